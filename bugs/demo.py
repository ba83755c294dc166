"""The demo organization's content: realistic reports, built deterministically from a seed."""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

TITLES = [
    "Checkout button does nothing after applying a coupon",
    "App crashes when rotating on the product gallery",
    "Push notifications arrive twice",
    "Dark mode: order total is unreadable",
    "Login with Apple loops back to the sign-in screen",
    "Search results flicker while typing",
    "Cart badge shows the wrong item count",
    "Payment sheet freezes on slow networks",
    "Map pins disappear after zooming out",
    "Profile photo upload fails with large images",
    "Onboarding carousel skips the second page",
    "Wishlist is empty after reinstalling",
    "Prices shown in USD for German locale",
    "Keyboard covers the address form on small screens",
    "Order history takes 10 seconds to load",
    "Tapping a deep link opens the home screen instead of the product",
    "Accessibility: VoiceOver reads the price twice",
    "Password reset email link says it has expired",
    "Video review player has no sound",
    "Filter chips overlap on Android tablets",
    "Barcode scanner camera stays black",
    "Feedback: please add a way to reorder quickly",
    "Feedback: delivery time estimate is confusing",
    "Stuck on splash screen after update",
    "Pull to refresh duplicates the feed items",
]
DESCRIPTIONS = [
    "It happens every time for me since the last update. I tried restarting the app and the phone.",
    "Not sure if it is related to my account, but my partner sees the same thing on her phone.",
    "The screen just stays like this; I have to kill the app to get out.",
    "Started after I changed my language settings. Screenshot attached.",
    "Intermittent: maybe one time in five, mostly on mobile data.",
    "",
]
STEPS = [
    ["Open the app", "Add any item to the cart", "Apply the coupon WELCOME10", "Tap Checkout"],
    ["Open a product", "Swipe through the gallery", "Rotate the phone to landscape"],
    ["Sign out", "Tap 'Continue with Apple'", "Confirm with Face ID"],
    ["Go to Profile", "Tap the avatar", "Choose a photo from the library (HEIC, 12 MB)"],
    ["Open the search tab", "Type 'sneakers' quickly"],
]
VIEWS = [
    "CheckoutViewController",
    "ProductGalleryActivity",
    "SearchScreen",
    "ProfileFragment",
    "CartView",
    "OnboardingPager",
    "OrderHistoryScreen",
    "MapScreen",
]
TAGS = [
    "checkout",
    "crash",
    "ui",
    "payments",
    "login",
    "performance",
    "accessibility",
    "localization",
    "feedback",
    "regression",
    "notifications",
]
LOCALES = ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja-JP", "pt-BR"]
FIRST_NAMES = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Lucas",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
]
LAST_NAMES = [
    "Silva",
    "Okafor",
    "Martin",
    "Ivanov",
    "Yılmaz",
    "Haddad",
    "Chen",
    "Tanaka",
    "García",
    "Schmidt",
    "Adeyemi",
    "Rossi",
    "Patel",
    "Novak",
]
PLATFORM_DEVICES = {
    "ios": (
        [
            "iPhone 15 Pro",
            "iPhone 14",
            "iPhone 13 mini",
            "iPhone SE (3rd generation)",
            "iPad Air (5th generation)",
        ],
        "iOS",
        ["17.6.1", "18.0", "18.1", "18.2"],
    ),
    "android": (
        ["Pixel 8", "Pixel 7a", "Galaxy S24", "Galaxy A54", "OnePlus 12", "Xiaomi 13T"],
        "Android",
        ["13", "14", "15"],
    ),
}
APP_VERSIONS = [("4.1.0", "4100"), ("4.1.2", "4120"), ("4.2.0", "4200"), ("4.2.1", "4210")]
COMMENTS = [
    "I can reproduce this on the staging build.",
    "Looks like the same root cause as the cart badge issue.",
    "Asked the reporter for a screen recording.",
    "Fixed in 4.2.1, waiting for QA to confirm.",
    "Not reproducible on my device; lowering priority until we hear back.",
]
LOG_LINES = [
    ("info", "App did become active"),
    ("debug", "GET /v2/cart 200 (143 ms)"),
    ("info", "User tapped checkout"),
    ("warning", "Slow frame: 84 ms on main thread"),
    ("error", "PaymentSheet: presentation failed: sheet already presented"),
    ("debug", "Cache hit: product/48213"),
    ("error", "Unhandled promise rejection: TypeError: undefined is not an object"),
]
STATUS_WEIGHTS = {"new": 5, "in_progress": 3, "closed": 2}
PRIORITY_WEIGHTS = {"na": 3, "trivial": 1, "minor": 3, "major": 2, "blocker": 1}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def demo_report_fields(rng: random.Random, *, platform: str, created_at: datetime) -> dict[str, Any]:
    """One plausible report, as an SDK on `platform` would send it."""
    devices, os_name, os_versions = PLATFORM_DEVICES[platform]
    version, build = rng.choice(APP_VERSIONS)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    start = created_at - timedelta(seconds=40)
    logs = [
        {"timestamp": (start + timedelta(seconds=i * 3)).isoformat(), "level": level, "message": message}
        for i, (level, message) in enumerate(rng.sample(LOG_LINES, k=rng.randint(3, len(LOG_LINES))))
    ]
    return {
        "title": rng.choice(TITLES),
        "description": rng.choice(DESCRIPTIONS),
        "reproduction_steps": rng.choice(STEPS) if rng.random() < 0.7 else [],
        "reporter_email": f"{first}.{last}@example.com".lower()
        .replace("ı", "i")
        .replace("é", "e")
        .replace("í", "i"),
        "reporter_name": f"{first} {last}",
        "device_model": rng.choice(devices),
        "os_name": os_name,
        "os_version": rng.choice(os_versions),
        "app_version": version,
        "app_build": build,
        "current_view": rng.choice(VIEWS),
        "locale": rng.choice(LOCALES),
        "tags": rng.sample(TAGS, k=rng.randint(0, 3)),
        "user_attributes": {
            "plan": rng.choice(["free", "plus", "business"]),
            "orders": rng.randint(0, 40),
            "beta_tester": rng.random() < 0.2,
        },
        "console_logs": logs,
        "priority": _weighted(rng, PRIORITY_WEIGHTS),
        "status": _weighted(rng, STATUS_WEIGHTS),
        "created_at": created_at,
    }


def demo_screenshot_png(title: str) -> bytes:
    """A small phone-screen-like PNG, so the demo has a real image attachment."""
    image = Image.new("RGB", (390, 844), "#f4f5f7")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 390, 90), fill="#3b5bdb")
    draw.text((20, 50), "Acme Shop", fill="#ffffff")
    for i in range(5):
        top = 120 + i * 130
        draw.rounded_rectangle((20, top, 370, top + 110), radius=12, fill="#ffffff", outline="#dde1e7")
        draw.rectangle((35, top + 15, 115, top + 95), fill="#c5cee0")
        draw.text((130, top + 25), f"Product {i + 1}", fill="#1c2330")
        draw.text((130, top + 50), f"{19 + i * 5}.99", fill="#5a6576")
    draw.rounded_rectangle((20, 770, 370, 820), radius=10, fill="#c92a2a")
    draw.text((150, 788), "Checkout", fill="#ffffff")
    draw.text((20, 740), title[:48], fill="#8a1c1c")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()

"""`manage.py seed_demo`: a demo organization with an admin, two apps and ~200 reports, and,
with JIRA_SANDBOX on, the sandbox Jira's demo sites and credentials (`sandbox_seed`).

Safe to run again: when the demo organization exists it only prints the login and tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import random
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Organization, Role, User
from bugs import services
from bugs.demo import COMMENTS, demo_report_fields, demo_screenshot_png
from bugs.models import Activity, App, BugReport

DEMO_SLUG = "demo"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "bugbridge-demo"  # noqa: S105  (the demo login is public on purpose)
TEAM = [("maria@example.com", "María López", Role.ADMIN), ("sam@example.com", "Sam Carter", Role.MEMBER)]
APPS = [("Acme Shop iOS", "ios"), ("Acme Shop Android", "android")]


def demo_sdk_token(app_name: str) -> str:
    """Derived from SECRET_KEY, so every run prints the same token without storing it."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"demo-sdk:{app_name}".encode(), hashlib.sha256)
    return "bb_demo_" + base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")[:32]


class Command(BaseCommand):
    help = "Create the demo organization (admin login, two apps, ~200 reports). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reports", type=int, default=200, help="How many reports in all.")
        parser.add_argument("--seed", type=int, default=42, help="Random seed, for repeatable data.")
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Seed even with DEBUG off (the demo password is public: never on a real site).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_without_debug"]:
            raise CommandError("seed_demo creates a user with a public password; run it with DEBUG=true.")
        if Organization.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("The demo organization already exists; nothing was added.")
        else:
            # One log line per seeded report would bury the login this command prints.
            logging.getLogger("bugs").setLevel(logging.WARNING)
            self._seed(reports=options["reports"], seed=options["seed"])
        self._print_login()
        if settings.JIRA_SANDBOX:
            # By name, never by import: the product does not know the sandbox (DESIGN.md).
            call_command("sandbox_seed", stdout=self.stdout)

    @transaction.atomic
    def _seed(self, *, reports: int, seed: int) -> None:
        rng = random.Random(seed)
        admin = User.objects.filter(email=ADMIN_EMAIL).first() or User.objects.create_superuser(
            ADMIN_EMAIL, ADMIN_PASSWORD, name="Demo Admin"
        )
        EmailAddress.objects.update_or_create(
            user=admin, email=ADMIN_EMAIL, defaults={"verified": True, "primary": True}
        )
        organization = Organization.objects.create(name="Acme Mobile", slug=DEMO_SLUG)
        Membership.objects.create(organization=organization, user=admin, role=Role.OWNER)
        team = [admin]
        for email, name, role in TEAM:
            user = User.objects.filter(email=email).first() or User.objects.create_user(
                email, ADMIN_PASSWORD, name=name
            )
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            Membership.objects.create(organization=organization, user=user, role=role)
            team.append(user)

        now = timezone.now()
        apps = [
            services.app_create(
                organization=organization, name=name, platform=platform, token=demo_sdk_token(name)
            )[0]
            for name, platform in APPS
        ]
        # Oldest first, so report numbers grow with time as they would in real life.
        moments = sorted(now - timedelta(minutes=rng.randint(5, 60 * 24 * 45)) for _ in range(reports))
        created: list[BugReport] = []
        for moment in moments:
            app = apps[0] if rng.random() < 0.55 else apps[1]
            fields = demo_report_fields(rng, platform=app.platform, created_at=moment)
            status = fields.pop("status")
            report = services.report_create(app=app, fields=fields)
            if status != "new":
                # Triage it the way a person would, so its timeline tells the story.
                assignee = rng.choice(team) if rng.random() < 0.8 else None
                activities = services.report_update(
                    report=report, actor=rng.choice(team), status=status, assignee=assignee
                )
                when = min(now, moment + timedelta(hours=rng.randint(1, 72)))
                Activity.objects.filter(pk__in=[a.pk for a in activities]).update(created_at=when)
            created.append(report)
        for report in rng.sample(created, k=min(len(created), max(1, reports // 4))):
            for _ in range(rng.randint(1, 3)):
                services.comment_create(report=report, body=rng.choice(COMMENTS), author=rng.choice(team))
        for report in rng.sample(created, k=min(len(created), 3)):
            png = demo_screenshot_png(report.title)
            upload = SimpleUploadedFile("screenshot.png", png, content_type="image/png")
            services.attachments_add(report=report, files=[upload])
        self.stdout.write(
            self.style.SUCCESS(f"Seeded {organization.name}: {len(created)} reports in {len(apps)} apps.")
        )

    def _print_login(self) -> None:
        self.stdout.write(
            f"\n  Dashboard: {settings.SITE_URL}/\n  Log in as: {ADMIN_EMAIL} / {ADMIN_PASSWORD}\n"
        )
        for app in App.objects.filter(organization__slug=DEMO_SLUG):
            self.stdout.write(f"  SDK token of {app.name}: {demo_sdk_token(app.name)}")
        self.stdout.write("")

"""Bugbridge settings.

Everything that varies between machines comes from the environment (or a `.env` file beside
manage.py), read once in the typed block below. Production is switched on by `DEBUG=false`
plus real values for SECRET_KEY and DATABASE_URL, which then have no defaults on purpose.
"""

import hashlib
import hmac
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------------------------------------
# The typed block: every variable of .env.example, with its type and development default.
# ---------------------------------------------------------------------------------------------
env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    SITE_URL=(str, "http://127.0.0.1:8000"),
    CACHE_URL=(str, "locmemcache://"),
    CELERY_BROKER_URL=(str, "filesystem://"),
    CELERY_FILESYSTEM_BROKER_DIR=(str, str(VAR_DIR / "broker")),
    EMAIL_URL=(str, "consolemail://"),
    DEFAULT_FROM_EMAIL=(str, "Bugbridge <bugbridge@localhost>"),
    MEDIA_ROOT=(str, str(VAR_DIR / "media")),
    STATIC_ROOT=(str, str(VAR_DIR / "static")),
    LOG_LEVEL=(str, "INFO"),
    SECURE_PROXY_SSL_HEADER=(bool, False),
    # None means "follow DEBUG": on in production, off in development.
    SECURE_SSL_REDIRECT=(bool, None),
    SESSION_COOKIE_SECURE=(bool, None),
    CSRF_COOKIE_SECURE=(bool, None),
    SECURE_HSTS_SECONDS=(int, None),
    SECURE_HSTS_INCLUDE_SUBDOMAINS=(bool, None),
    SECURE_HSTS_PRELOAD=(bool, None),
    SDK_RATE_LIMIT_PER_MINUTE=(int, 120),
    SDK_MAX_BODY_BYTES=(int, 1024 * 1024),
    SDK_MAX_UPLOAD_BYTES=(int, 100 * 1024 * 1024),
    ATTACHMENT_MAX_BYTES=(int, 25 * 1024 * 1024),
    IDEMPOTENCY_TTL_HOURS=(int, 24),
    INVITATION_TTL_DAYS=(int, 7),
    # The stand-in Jira Cloud at /sandbox/jira/; None means "follow DEBUG" (on in development).
    JIRA_SANDBOX=(bool, None),
    ATLASSIAN_AUTH_URL=(str, ""),
    ATLASSIAN_API_URL=(str, ""),
    ATLASSIAN_OAUTH_CLIENT_ID=(str, ""),
    ATLASSIAN_OAUTH_CLIENT_SECRET=(str, ""),
    JIRA_OPENAPI_SPEC=(str, "../shared/jira/jira-platform-openapi-v3.json"),
    JIRA_CONNECT_TIMEOUT_S=(float, 5.0),
    JIRA_READ_TIMEOUT_S=(float, 30.0),
    JIRA_SEARCH_CONSISTENCY_S=(float, 60.0),
    JIRA_FORWARD_LEASE_S=(float, 180.0),
    JIRA_RECONCILE_INTERVAL_S=(int, 300),
    JIRA_RECONCILE_OVERLAP_S=(int, 120),
    JIRA_RECONCILE_PAGE_SIZE=(int, 100),
    JIRA_THROTTLE_RPS=(float, 40.0),
    JIRA_THROTTLE_BURST=(int, 10),
    JIRA_SITE_SUFFIXES=(list, [".atlassian.net", ".jira.com"]),
    CREDENTIALS_ENCRYPTION_KEYS=(list, []),
    JIRA_CONNECT_APP_KEY=(str, "com.bugbridge.jira"),
    JIRA_CONNECT_INSTALL_KEYS_URL=(str, ""),
)

DEBUG: bool = env("DEBUG")
if DEBUG:
    SECRET_KEY: str = env("SECRET_KEY", default="django-insecure-development-only-key-do-not-deploy")
    DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bugbridge.sqlite3'}")}
else:
    # No defaults: a production process must be told its key and its database.
    SECRET_KEY = env("SECRET_KEY")
    DATABASES = {"default": env.db("DATABASE_URL")}

ALLOWED_HOSTS: list[str] = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS: list[str] = env("CSRF_TRUSTED_ORIGINS")
SITE_URL: str = env("SITE_URL").rstrip("/")
CACHES = {"default": env.cache_url("CACHE_URL")}
CELERY_BROKER_URL: str = env("CELERY_BROKER_URL")
vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL: str = env("DEFAULT_FROM_EMAIL")
MEDIA_ROOT: str = env("MEDIA_ROOT")
STATIC_ROOT: str = env("STATIC_ROOT")
LOG_LEVEL: str = env("LOG_LEVEL")

SDK_RATE_LIMIT_PER_MINUTE: int = env("SDK_RATE_LIMIT_PER_MINUTE")
SDK_MAX_BODY_BYTES: int = env("SDK_MAX_BODY_BYTES")
SDK_MAX_UPLOAD_BYTES: int = env("SDK_MAX_UPLOAD_BYTES")
ATTACHMENT_MAX_BYTES: int = env("ATTACHMENT_MAX_BYTES")
IDEMPOTENCY_TTL_HOURS: int = env("IDEMPOTENCY_TTL_HOURS")
INVITATION_TTL_DAYS: int = env("INVITATION_TTL_DAYS")

# The sandbox Jira: mounted only when on; with it on, Atlassian's URLs default to its stand-ins.
JIRA_SANDBOX: bool = DEBUG if env("JIRA_SANDBOX") is None else bool(env("JIRA_SANDBOX"))
JIRA_SANDBOX_PREFIX = "/sandbox/jira"
ATLASSIAN_AUTH_URL: str = (
    env("ATLASSIAN_AUTH_URL")
    or (f"{SITE_URL}{JIRA_SANDBOX_PREFIX}/auth" if JIRA_SANDBOX else "https://auth.atlassian.com")
).rstrip("/")
ATLASSIAN_API_URL: str = (
    env("ATLASSIAN_API_URL")
    or (f"{SITE_URL}{JIRA_SANDBOX_PREFIX}/api" if JIRA_SANDBOX else "https://api.atlassian.com")
).rstrip("/")
# Bugbridge's distributable OAuth 2.0 (3LO) app. With the sandbox on and nothing set, the sandbox's
# seed registers an app with exactly these credentials, so the demo's "Connect with OAuth" works.
ATLASSIAN_OAUTH_CLIENT_ID: str = env("ATLASSIAN_OAUTH_CLIENT_ID") or (
    "bugbridge-sandbox-app" if JIRA_SANDBOX else ""
)
ATLASSIAN_OAUTH_CLIENT_SECRET: str = env("ATLASSIAN_OAUTH_CLIENT_SECRET") or (
    hmac.new(SECRET_KEY.encode(), b"sandbox-oauth-app", hashlib.sha256).hexdigest() if JIRA_SANDBOX else ""
)
# A relative path is relative to the project folder (the default sits beside the checkout).
JIRA_OPENAPI_SPEC: str = str((BASE_DIR / env("JIRA_OPENAPI_SPEC")).resolve())
# Every call to Jira: seconds to connect, seconds to wait for the answer.
JIRA_CONNECT_TIMEOUT_S: float = env("JIRA_CONNECT_TIMEOUT_S")
JIRA_READ_TIMEOUT_S: float = env("JIRA_READ_TIMEOUT_S")
# How long after a create whose answer was lost Bugbridge keeps looking the issue up (Jira's search
# shows new issues with a delay) before it creates it again.
JIRA_SEARCH_CONSISTENCY_S: float = env("JIRA_SEARCH_CONSISTENCY_S")
# Calls per second per connection and HTTP method, shared by every worker (PUT and DELETE get
# half), and how many may go at once after a quiet spell: under Jira's burst limits (100 GET and
# POST, 50 PUT and DELETE per second per site), which every app on the site shares. 0: off.
JIRA_THROTTLE_RPS: float = env("JIRA_THROTTLE_RPS")
# How long a worker's claim on a report being sent lasts: after a worker dies, another takes the
# report over once the claim runs out (longer than any one attempt's Jira calls).
JIRA_FORWARD_LEASE_S: float = env("JIRA_FORWARD_LEASE_S")
JIRA_THROTTLE_BURST: int = env("JIRA_THROTTLE_BURST")
# Two-way sync's reconciliation: how often each connection's pass runs (the beat row made by the
# migration starts with it; edit it in the admin afterwards), how far before the last pass's
# start each pass reaches back (JQL dates have minute resolution and search lags behind writes),
# and issues per search page.
JIRA_RECONCILE_INTERVAL_S: int = env("JIRA_RECONCILE_INTERVAL_S")
JIRA_RECONCILE_OVERLAP_S: int = env("JIRA_RECONCILE_OVERLAP_S")
JIRA_RECONCILE_PAGE_SIZE: int = env("JIRA_RECONCILE_PAGE_SIZE")
# Fernet keys for credentials at rest: the first encrypts, every one decrypts (rotation: put the
# new key first, run `manage.py rotate_credentials_key`, then drop the old one). Empty: one key
# derived from SECRET_KEY, so changing SECRET_KEY would make stored credentials unreadable.
CREDENTIALS_ENCRYPTION_KEYS: list[str] = [k.strip() for k in env("CREDENTIALS_ENCRYPTION_KEYS") if k.strip()]
# The legacy Connect add-on: its key (the JWT issuer of our calls), and where the public keys that
# sign `installed`/`uninstalled` are published (Atlassian's CDN; the sandbox's while it is on).
JIRA_CONNECT_APP_KEY: str = env("JIRA_CONNECT_APP_KEY")
JIRA_CONNECT_INSTALL_KEYS_URL: str = (
    env("JIRA_CONNECT_INSTALL_KEYS_URL")
    or (
        f"{SITE_URL}{JIRA_SANDBOX_PREFIX}/connect/keys"
        if JIRA_SANDBOX
        else "https://connect-install-keys.atlassian.com"
    )
).rstrip("/")
# Host suffixes a Jira site URL may have (the sandbox is allowed too while it is on).
JIRA_SITE_SUFFIXES: list[str] = [s.strip().lower() for s in env("JIRA_SITE_SUFFIXES") if s.strip()]

# ---------------------------------------------------------------------------------------------
# Databases: SQLite gets WAL (readers never block the writer) and IMMEDIATE transactions, so
# two writers queue on the lock instead of failing half-way with "database is locked".
# ---------------------------------------------------------------------------------------------
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "ninja",
    "accounts",
    "bugs",
    "integrations",
    "integrations.jira_sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organization",
            ],
        },
    }
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# allauth: email is the login; no usernames anywhere.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Bugbridge] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Attachments live under MEDIA_ROOT but MEDIA_URL is never routed: files are served only by
# a view that checks organization membership.
MEDIA_URL = "/attachments-are-not-public/"
FILE_UPLOAD_PERMISSIONS = 0o640

# ---------------------------------------------------------------------------------------------
# Security: production defaults follow DEBUG, so `manage.py check --deploy` passes with DEBUG off.
# ---------------------------------------------------------------------------------------------
if env("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def _unless_debug(name: str, production: object) -> object:
    value = env(name)
    return (None if DEBUG else production) if value is None else value


SECURE_SSL_REDIRECT = bool(_unless_debug("SECURE_SSL_REDIRECT", True))
SESSION_COOKIE_SECURE = bool(_unless_debug("SESSION_COOKIE_SECURE", True))
CSRF_COOKIE_SECURE = bool(_unless_debug("CSRF_COOKIE_SECURE", True))
SECURE_HSTS_SECONDS = int(_unless_debug("SECURE_HSTS_SECONDS", 31_536_000) or 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = bool(_unless_debug("SECURE_HSTS_INCLUDE_SUBDOMAINS", True))
SECURE_HSTS_PRELOAD = bool(_unless_debug("SECURE_HSTS_PRELOAD", True))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The SDK API exempts itself from this; everything else is a browser form.
SESSION_COOKIE_HTTPONLY = True

# ---------------------------------------------------------------------------------------------
# Celery: the embedded default broker is a folder under var/, so one machine needs no server.
# ---------------------------------------------------------------------------------------------
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env("CELERY_FILESYSTEM_BROKER_DIR"))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic tasks live in the database (django-celery-beat), created by data migrations
# (bugs 0003, integrations 0010) so admins can change or pause them in the admin: entries here
# would be rewritten at every beat start. Only the sandbox's sweeper, a development tool that
# exists with JIRA_SANDBOX alone, is declared here.
CELERY_BEAT_SCHEDULE: dict = {}
if JIRA_SANDBOX:
    # The sandbox Jira's webhook sweeper: sends deliveries whose task was lost (a restarted worker).
    CELERY_BEAT_SCHEDULE["sandbox-jira-deliver-due"] = {
        "task": "integrations.jira_sandbox.tasks.deliver_due",
        "schedule": 60,
    }

# ---------------------------------------------------------------------------------------------
# Logging: event names plus context; never secrets.
# ---------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "config.logging.ContextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's own console handler would print every 4xx twice beside the root one.
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}

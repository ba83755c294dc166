"""Settings for what the benchmarks run (the ingest benchmark's gunicorn server, the list
benchmark's in-process client): the production settings (DEBUG off) plus the baseline views
(tests/benchmarks/bench_urls.py) to measure against.

The broker is `memory://` unless the benchmark names one in BENCH_CELERY_BROKER_URL (the webhook
benchmarks: a `filesystem://` folder of their own, CELERY_FILESYSTEM_BROKER_DIR, or Redis), so a
run never writes to var/broker.

The database is always BENCH_DATABASE_URL, set by the benchmark to a fresh temporary SQLite file
(ingest) or a throwaway PostgreSQL database (list), or passed through from
`BENCH_DATABASE_URL=postgres://... make bench`. It is never read from DATABASE_URL, so a
development database named in `.env` or the shell is never written to.
"""

import os
import tempfile

_tmp = os.environ.get("BENCH_TMP_DIR") or tempfile.gettempdir()

# Assigned, not defaulted: these make the run comparable and must not come from `.env`.
os.environ["DEBUG"] = "false"
os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
os.environ["SECRET_KEY"] = "benchmark-only-secret-key-not-for-any-deployment-0123456789"
os.environ["ALLOWED_HOSTS"] = "127.0.0.1"
# The webhook benchmarks pass the server's own URL (with its port): the sandbox writes it into
# the links of the webhook bodies it sends.
os.environ["SITE_URL"] = os.environ.get("BENCH_SITE_URL") or "http://127.0.0.1"
os.environ["SECURE_SSL_REDIRECT"] = "false"
os.environ["SDK_RATE_LIMIT_PER_MINUTE"] = str(10**9)
os.environ["LOG_LEVEL"] = "WARNING"
# Nothing in the ingest path sends a task; this keeps the run from touching var/broker. The
# webhook benchmarks enqueue for real: they pass their own broker (and its folder) instead.
os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_CELERY_BROKER_URL") or "memory://"
os.environ["MEDIA_ROOT"] = os.path.join(_tmp, "media")
os.environ["STATIC_ROOT"] = os.path.join(_tmp, "static")
# CACHE_URL (the rate limiter's counters) is passed through: locmem unless set.

from config.settings import *  # noqa: E402, F403

ROOT_URLCONF = "tests.benchmarks.bench_urls"

# The sync-lag benchmark sends the sandbox Jira's webhooks from a worker of their own (Jira's
# side, apart from the product's worker): BENCH_SANDBOX_QUEUE names the queue they go to.
if os.environ.get("BENCH_SANDBOX_QUEUE"):
    CELERY_TASK_ROUTES = {"integrations.jira_sandbox.tasks.*": {"queue": os.environ["BENCH_SANDBOX_QUEUE"]}}

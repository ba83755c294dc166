"""Settings as production sees them: each case runs manage.py in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-like-secret-key-with-enough-length-and-entropy-7f3k9q2z",
    "DATABASE_URL": "postgres://bugbridge:secret@db.internal:5432/bugbridge",
    "ALLOWED_HOSTS": "bugs.example.com",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only what a shell needs: nothing from the test run's own configuration leaks in.
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_a_production_like_environment(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_without_debug_the_secret_key_has_no_default():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_without_debug_the_database_url_has_no_default():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DATABASE_URL"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_makemigrations_check_needs_no_deployment_secrets(tmp_path):
    # A fresh checkout: no DEBUG, no SECRET_KEY (the database only so var/ stays untouched).
    result = _manage(
        "makemigrations", "--check", "--dry-run", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "No changes detected" in result.stdout


def test_development_defaults_need_nothing_set(tmp_path):
    result = _manage("check", env={"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert result.returncode == 0, result.stderr


_SHOW_JIRA = (
    "from django.conf import settings; from django.urls import resolve, Resolver404\n"
    "try:\n    resolve('/sandbox/jira/site/acme/_edge/tenant_info'); mounted = True\n"
    "except Resolver404:\n    mounted = False\n"
    "print(settings.JIRA_SANDBOX, mounted, settings.ATLASSIAN_AUTH_URL, settings.ATLASSIAN_API_URL)"
)


def test_production_has_no_sandbox_and_talks_to_atlassian():
    result = _manage("shell", "-c", _SHOW_JIRA, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "False",
        "False",
        "https://auth.atlassian.com",
        "https://api.atlassian.com",
    ]


def test_development_mounts_the_sandbox_and_points_atlassians_urls_at_it(tmp_path):
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SITE_URL": "http://dev:8000",
    }
    result = _manage("shell", "-c", _SHOW_JIRA, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "True",
        "True",
        "http://dev:8000/sandbox/jira/auth",
        "http://dev:8000/sandbox/jira/api",
    ]


def test_the_sandbox_can_be_switched_off_in_development(tmp_path):
    env = {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "JIRA_SANDBOX": "false"}
    result = _manage("shell", "-c", _SHOW_JIRA, env=env)
    assert result.stdout.strip().splitlines()[-1].split()[:3] == [
        "False",
        "False",
        "https://auth.atlassian.com",
    ]

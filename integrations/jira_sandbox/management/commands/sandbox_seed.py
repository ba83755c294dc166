"""`manage.py sandbox_seed [--reset]`: the sandbox Jira's demo world, and its credentials."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...seed import sandbox_reset, sandbox_seed


class Command(BaseCommand):
    help = "Create the sandbox Jira's sites, people, credentials and projects (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="Wipe every sandbox table first.")
        parser.add_argument("--quiet-credentials", action="store_true", help="Do not print the credentials.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.JIRA_SANDBOX:
            raise CommandError("The sandbox Jira is off (JIRA_SANDBOX=false); nothing to seed.")
        result = sandbox_reset() if options["reset"] else sandbox_seed()
        verb = "Created" if result.created else "Already there:"
        self.stdout.write(f"{verb} sandbox Jira sites {', '.join(result.sites)}.")
        if options["quiet_credentials"]:
            return
        base = f"{settings.SITE_URL}{settings.JIRA_SANDBOX_PREFIX}"
        c = result.credentials
        self.stdout.write(
            "\n".join(
                [
                    f"  Sandbox Jira:     {base}/  (sign in as {c['user_email']} / {c['user_password']})",
                    f"  Site URL:         {base}/site/{c['site']}",
                    f"  Basic auth:       {c['user_email']} + API token {c['api_token']}",
                    f"  Scoped API token: {c['service_account_email']} + {c['scoped_api_token']}",
                    f"  OAuth service account: client id {c['sa_client_id']}",
                    f"                         client secret {c['sa_client_secret']}",
                    f"  OAuth 2.0 app:    client id {c['oauth_client_id']}",
                    f"                    client secret {c['oauth_client_secret']}",
                ]
            )
        )

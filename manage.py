#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Commands that only read the model classes and write migration files need no deployment
# secrets: on a fresh checkout they run with the development defaults. A DEBUG or SECRET_KEY
# set in the environment still wins; every other command keeps the production rule (no DEBUG
# means a SECRET_KEY and a DATABASE_URL must be given).
MODEL_ONLY_COMMANDS = frozenset({"makemigrations"})


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in MODEL_ONLY_COMMANDS:
        os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

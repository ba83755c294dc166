"""Re-encrypt every stored credential under the first of CREDENTIALS_ENCRYPTION_KEYS.

Rotation without downtime: put the new key first (keep the old ones after it), deploy, run this,
then remove the old keys. Every key in the list decrypts, so nothing breaks in between.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models, transaction

from integrations.encryption import EncryptedTextField

BATCH = 200


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every installed model with encrypted columns, and those columns' names."""
    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Re-encrypt stored credentials under the first key of CREDENTIALS_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model, names in encrypted_fields():
            count = 0
            pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
            for start in range(0, len(pks), BATCH):
                with transaction.atomic():
                    # Reading decrypts with whichever key works; saving encrypts with the first.
                    for row in model._default_manager.select_for_update().filter(
                        pk__in=pks[start : start + BATCH]
                    ):
                        row.save(update_fields=names)
                        count += 1
            total += count
            self.stdout.write(f"{model._meta.label}: {count} row(s) re-encrypted ({', '.join(names)})")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} row(s) now use the first key."))

"""Reactions to allauth's events."""

from typing import Any

from allauth.account.signals import user_signed_up
from django.dispatch import receiver
from django.http import HttpRequest

from .models import User
from .services import organization_create_personal


@receiver(user_signed_up)
def create_personal_organization(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    organization_create_personal(user=user)

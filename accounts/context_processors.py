"""Puts the current organization and the switcher's choices on every page."""

from typing import Any

from django.http import HttpRequest

from .selectors import membership_current, memberships_for_user


def organization(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_membership": membership_current(request),
        "memberships": memberships_for_user(user=request.user).order_by("organization__name"),
    }

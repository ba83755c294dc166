"""Puts the current organization and the switcher's choices on every page."""

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import membership_current, memberships_of_request


def organization(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    # Lazy: an htmx fragment that never shows the switcher costs no query.
    return {
        "current_membership": SimpleLazyObject(lambda: membership_current(request)),
        "memberships": SimpleLazyObject(lambda: memberships_of_request(request)),
    }

"""What the REST modules share: Jira's error answer for the services' validation, and 204."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpResponse

from ..pipeline import Ctx
from ..responses import ApiError, error_collection
from ..validation import ValidationFailed


def jira_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the services' ValidationFailed into Jira's ErrorCollection answer."""

    @wraps(handler)
    def wrapped(ctx: Ctx, **kwargs: Any) -> Any:
        try:
            return handler(ctx, **kwargs)
        except ValidationFailed as exc:
            raise ApiError(error_collection(exc.status, exc.messages, exc.errors)) from exc

    return wrapped


def no_content() -> HttpResponse:
    return HttpResponse(status=204)

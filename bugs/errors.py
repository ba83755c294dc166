"""Errors from report services, each with words the person (or SDK developer) can act on."""


class BugsError(Exception):
    """Base class: `str(error)` is a sentence fit for a page or an API error message."""


class AttachmentRejected(BugsError):
    """An uploaded file that we will not store; `status` is the HTTP status the API answers."""

    def __init__(self, message: str, *, status: int, field: str = "files") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class IdempotencyConflict(BugsError):
    """The same Idempotency-Key was sent again with a different body."""


class NotAMember(BugsError):
    """An assignee who does not belong to the report's organization."""

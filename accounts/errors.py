"""Errors a person can act on, raised by account services and shown where they acted."""


class AccountsError(Exception):
    """Base class: `str(error)` is a sentence fit for the page."""


class InvitationInvalid(AccountsError):
    pass


class MembershipError(AccountsError):
    pass

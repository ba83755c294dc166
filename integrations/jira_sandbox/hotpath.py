"""Hand-written statements for the lookups and the write that every sandbox REST call makes.

Why not the ORM: for these few small statements Django spends far longer building the SQL than the
database spends running it (the Basic-auth lookup, a join with an EXISTS: about 0.7 ms to compile,
0.06 ms to run on SQLite), and the sandbox must stay faster than anything a benchmark measures
through it (issue 4, §9). The statements are plain SQL both SQLite and PostgreSQL run; lookups go
through `Model.objects.raw`, so the rows come back as model instances with every field's converter
applied, exactly as the ORM would give them. Table and column names come from the models.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from .models import Account, ApiToken, RequestLog, Site, SiteAccess

SITE_KEYS = frozenset({"name", "cloud_id"})


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: type, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def site_by(key: str, value: str) -> Site | None:
    """The site whose `name` or `cloud_id` is `value` (both are unique)."""
    if key not in SITE_KEYS:
        raise ValueError(f"sites are not looked up by {key}")
    rows = list(
        Site.objects.raw(
            f"SELECT * FROM {_table(Site)} WHERE {_column(Site, key)} = %s",  # noqa: S608
            [value],
        )
    )
    return rows[0] if rows else None


def api_token(token_hash: str, email: str, site: Site | None) -> ApiToken | None:
    """The API token with this hash whose account has this email (case-insensitive, as Jira
    compares them), with its account loaded, and `site_access`: whether that account has product
    access to `site` (None without a site). Revocation and expiry are the caller's to check."""
    token, account, access = _table(ApiToken), _table(Account), _table(SiteAccess)
    has_access = (
        f"EXISTS (SELECT 1 FROM {access} s WHERE s.{_column(SiteAccess, 'site')} = %s "  # noqa: S608
        f"AND s.{_column(SiteAccess, 'account')} = t.{_column(ApiToken, 'account')})"
        if site is not None
        else "NULL"
    )
    params: list[object] = [site.pk] if site is not None else []
    rows = list(
        ApiToken.objects.raw(
            f"SELECT t.*, {has_access} AS site_access FROM {token} t "  # noqa: S608
            f"JOIN {account} a ON a.{_column(Account, 'id')} = t.{_column(ApiToken, 'account')} "
            f"WHERE t.{_column(ApiToken, 'token_hash')} = %s "
            f"AND LOWER(a.{_column(Account, 'email')}) = LOWER(%s)",
            [*params, token_hash, email],
        )
    )
    if not rows:
        return None
    found = rows[0]
    accounts = list(
        Account.objects.raw(
            f"SELECT * FROM {account} WHERE {_column(Account, 'id')} = %s",  # noqa: S608
            [found.account_id],
        )
    )
    if not accounts:  # deleted between the two statements
        return None
    found.account = accounts[0]
    return found


# RequestLog columns in the order `log_request` writes them.
_LOG_COLUMNS = ("site", "method", "path", "status", "auth", "account_id", "duration_ms", "note", "created")


def log_request(
    *,
    site: Site | None,
    method: str,
    path: str,
    status: int,
    auth: str,
    account_id: str,
    duration_ms: int,
    note: str,
    created: datetime,
) -> None:
    """One RequestLog row, inserted without asking for its id back."""
    columns = ", ".join(_column(RequestLog, name) for name in _LOG_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_LOG_COLUMNS))
    values = [
        site.pk if site is not None else None,
        method,
        path,
        status,
        auth,
        account_id,
        duration_ms,
        note,
        connection.ops.adapt_datetimefield_value(created),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(RequestLog)} ({columns}) VALUES ({placeholders})",  # noqa: S608
            values,
        )

"""The triage list's query: filters from the URL, sort orders, and keyset (cursor) pagination.

Every filter is an exact match or a range on an indexed column (text search aside), and pages
are fetched with a WHERE on the sort key instead of an OFFSET, so page 500 costs what page 1 does.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User

from .models import App, BugReport, Priority, ReportTag, Status

PAGE_SIZE = 50


@dataclass(frozen=True)
class SortOrder:
    label: str
    # (field, descending) pairs, ending with the unique id so the order is total.
    keys: tuple[tuple[str, bool], ...]

    @property
    def order_by(self) -> list[str]:
        return [("-" if desc else "") + field for field, desc in self.keys]


SORTS: dict[str, SortOrder] = {
    "-created": SortOrder("Newest first", (("created_at", True), ("id", True))),
    "created": SortOrder("Oldest first", (("created_at", False), ("id", False))),
    "-updated": SortOrder("Recently updated", (("updated_at", True), ("id", True))),
    "-priority": SortOrder("Highest priority", (("priority_rank", True), ("created_at", True), ("id", True))),
}
DEFAULT_SORT = "-created"


class ReportFilterForm(forms.Form):
    """The filter bar. Invalid values are dropped (and shown as errors), never a 500."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    app = forms.ModelChoiceField(queryset=App.objects.none(), required=False, empty_label="All apps")
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    priority = forms.ChoiceField(choices=[("", "Any priority"), *Priority.choices], required=False)
    assignee = forms.ChoiceField(required=False)
    tag = forms.CharField(required=False, max_length=50)
    version = forms.CharField(required=False, max_length=50, label="App version")
    os = forms.CharField(required=False, max_length=50, label="OS")
    created_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(choices=[(k, s.label) for k, s in SORTS.items()], required=False)

    def __init__(self, data: Any, *, apps: QuerySet[App], members: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["app"].queryset = apps  # type: ignore[attr-defined]
        self.fields["assignee"].choices = [
            ("", "Anyone"),
            ("none", "Unassigned"),
            *((str(u.pk), u.display_name) for u in members),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The end date is before the start date.")
        return data


def filter_values(form: ReportFilterForm) -> dict[str, Any]:
    """The valid, non-empty filters (invalid fields are left out, so the list still loads)."""
    if not form.is_bound:
        return {}
    form.is_valid()
    return {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}


def apply_filters(reports: QuerySet[BugReport], values: dict[str, Any]) -> QuerySet[BugReport]:
    exact = {
        "app": "app",
        "status": "status",
        "priority": "priority",
        "version": "app_version",
        "os": "os_name",
    }
    for key, field in exact.items():
        if key in values:
            reports = reports.filter(**{field: values[key]})
    assignee = values.get("assignee")
    if assignee == "none":
        reports = reports.filter(assignee__isnull=True)
    elif assignee:
        reports = reports.filter(assignee_id=int(assignee))
    if "tag" in values:
        reports = reports.filter(
            pk__in=ReportTag.objects.filter(name=values["tag"].lower()).values("report_id")
        )
    tz = timezone.get_current_timezone()
    if "created_from" in values:
        reports = reports.filter(created_at__gte=datetime.combine(values["created_from"], time.min, tz))
    if "created_to" in values:
        reports = reports.filter(created_at__lte=datetime.combine(values["created_to"], time.max, tz))
    if "q" in values:
        q = values["q"]
        reports = reports.filter(
            Q(title__icontains=q)
            | Q(description__icontains=q)
            | Q(reporter_email__icontains=q)
            | Q(reporter_name__icontains=q)
        )
    return reports


# --- keyset pagination ------------------------------------------------------------------------


def _encode(values: list[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, sort: SortOrder) -> list[Any] | None:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(sort.keys):
        return None
    decoded = []
    for (field, _), value in zip(sort.keys, values, strict=True):
        if field.endswith("_at"):
            value = parse_datetime(value) if isinstance(value, str) else None
        elif not isinstance(value, int) or isinstance(value, bool):
            value = None
        if value is None:
            return None
        decoded.append(value)
    return decoded


def _beyond(sort: SortOrder, values: list[Any], *, backwards: bool) -> Q:
    """Rows strictly after `values` in the sort order (or before, going backwards):
    (a, b, c) > (x, y, z) spelled as a OR-chain, which every database can use an index for."""
    condition = Q()
    for i in reversed(range(len(sort.keys))):
        field, desc = sort.keys[i]
        op = "lt" if desc != backwards else "gt"
        step = Q(**{f"{field}__{op}": values[i]})
        prefix = Q(**{f: values[j] for j, (f, _) in enumerate(sort.keys[:i])})
        condition = (prefix & step) if i == len(sort.keys) - 1 else (prefix & step) | condition
    return condition


@dataclass
class Page:
    rows: list[BugReport]
    next_cursor: str | None
    prev_cursor: str | None


def paginate(
    reports: QuerySet[BugReport], *, sort_key: str, after: str = "", before: str = "", size: int = PAGE_SIZE
) -> Page:
    """One page in `sort_key` order, after or before a cursor; a bad cursor means page one."""
    sort = SORTS.get(sort_key, SORTS[DEFAULT_SORT])
    backwards = bool(before) and not after
    cursor = _decode(before if backwards else after, sort) if (after or before) else None
    query = reports
    if cursor is not None:
        query = query.filter(_beyond(sort, cursor, backwards=backwards))
    order = sort.order_by
    if backwards:
        order = [f[1:] if f.startswith("-") else "-" + f for f in order]
    rows = list(query.order_by(*order)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()

    def key_of(row: BugReport) -> str:
        return _encode([getattr(row, field) for field, _ in sort.keys])

    has_next = more if not backwards else cursor is not None
    has_prev = (cursor is not None) if not backwards else more
    return Page(
        rows=rows,
        next_cursor=key_of(rows[-1]) if rows and has_next else None,
        prev_cursor=key_of(rows[0]) if rows and has_prev else None,
    )


def neighbours(
    reports: QuerySet[BugReport], *, sort_key: str, report: BugReport
) -> tuple[BugReport | None, BugReport | None]:
    """The reports just before and after `report` in this filter and order (previous, next)."""
    sort = SORTS.get(sort_key, SORTS[DEFAULT_SORT])
    values = [getattr(report, field) for field, _ in sort.keys]
    reverse = [f[1:] if f.startswith("-") else "-" + f for f in sort.order_by]
    previous = reports.filter(_beyond(sort, values, backwards=True)).order_by(*reverse).first()
    following = reports.filter(_beyond(sort, values, backwards=False)).order_by(*sort.order_by).first()
    return previous, following


# --- the list a user is looking at ------------------------------------------------------------


@dataclass
class TriageList:
    """Everything the list (and the report page's previous/next) needs for one request."""

    app: App | None
    organization_id: int
    form: ReportFilterForm
    values: dict[str, Any]
    reports: QuerySet[BugReport]
    members: list[User]
    sort_key: str

    @property
    def filter_querystring(self) -> str:
        """The filters as the user set them: the short, shareable form (no empty fields)."""
        params = QueryDict(mutable=True)
        for name in self.form.fields:
            raw = self.form.data.get(name) if self.form.is_bound else None
            if name in self.values and raw and not (name == "sort" and raw == DEFAULT_SORT):
                params[name] = raw
        return params.urlencode()

    @property
    def querystring(self) -> str:
        """What report links carry, so the report page can step to the previous and next."""
        scope = "" if self.app else "scope=all"
        return "&".join(part for part in (self.filter_querystring, scope) if part)


def triage_list(*, user: User, organization_id: int, app: App | None, data: Any) -> TriageList:
    """The reports of one app (or of every app of the organization) under the URL's filters.
    The caller has already scoped `app` and `organization_id` to the user."""
    apps = App.objects.filter(organization_id=organization_id).order_by("name")
    members = list(User.objects.filter(memberships__organization_id=organization_id).order_by("email"))
    form = ReportFilterForm(data or None, apps=apps, members=members)
    values = filter_values(form)
    scope = (
        BugReport.objects.filter(app=app)
        if app
        else BugReport.objects.filter(app__organization_id=organization_id)
    )
    reports = apply_filters(scope.select_related("app", "assignee"), values)
    sort_key = values.get("sort") or DEFAULT_SORT
    return TriageList(app, organization_id, form, values, reports, members, sort_key)

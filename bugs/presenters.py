"""The triage list's rows, rendered in Python.

The list renders 50 rows, each with three dropdowns. Looping over every option of every
dropdown in the template costs ~0.6 ms a row; the option markup is the same on every row but for
which one is selected, so it is built once per page here and only the `selected` mark moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User

from .models import App, BugReport, Priority, Status

_APP, _NUMBER = 990000001, 990000002  # placeholders reversed once, then substituted


class Options:
    """<option> markup for one dropdown, with any value marked selected in O(1)."""

    def __init__(self, choices: Iterable[tuple[str, str]]) -> None:
        self._by_value = {str(v): (escape(str(v)), escape(str(label))) for v, label in choices}
        self._rendered: dict[str, SafeString] = {}  # a page has only a few distinct values

    def render(self, selected: object) -> SafeString:
        chosen = "" if selected is None else str(selected)
        if chosen not in self._rendered:
            self._rendered[chosen] = mark_safe(  # noqa: S308  (values and labels escaped in __init__)
                "".join(
                    f'<option value="{v}"{" selected" if raw == chosen else ""}>{label}</option>'
                    for raw, (v, label) in self._by_value.items()
                )
            )
        return self._rendered[chosen]


# The row's markup lives here, not in the template: the list renders 50 rows and the template
# engine's per-variable cost (~10 µs a lookup, 40 a row) was most of the page's time. These are
# str.format templates filled by list_rows, which escapes every text value it puts in (ids and
# numbers are ints); format_html per cell cost another 4 ms a page in repeated escaping.
ROW_HTML = (
    '<tr id="report-{pk}" data-report-row data-href="{url}">\n'
    '<td><input type="checkbox" name="ids" value="{pk}" form="bulk-form"'
    ' aria-label="Select #{number}" data-row-select></td>\n'
    '<td class="num">{number}</td>\n'
    '<td class="title"><a href="{url}" data-row-link>{title}</a>{tags}</td>\n'
    "<td>{priority_cell}</td>\n<td>{status_cell}</td>\n"
    '<td class="col-jira">{jira_cell}</td>\n{app_cell}'
    '<td class="col-device">{device}</td>\n'
    '<td class="col-version">{version}</td>\n'
    '<td class="col-reporter">{reporter}</td>\n'
    '<td class="col-assignee">{assignee_cell}</td>\n'
    '<td class="col-created"><time datetime="{created_iso}" title="{created_title} UTC">'
    "{created_ago}</time></td>\n</tr>"
)
# One dropdown that saves itself: htmx posts it on change; without JavaScript, the Save button.
CELL_HTML = (
    '<form method="post" action="{url}" hx-post="{url}" hx-target="#report-{pk}" hx-swap="outerHTML"'
    ' hx-trigger="change">{csrf}{scope}'
    '<label class="visually-hidden" for="{key}-{pk}">{label} of #{number}</label>'
    '<select id="{key}-{pk}" name="{name}" class="{css}"{data}>{options}</select>'
    '<noscript><button class="btn btn-small" type="submit">Save</button></noscript></form>'
)


# The Jira column's cell is the integration's template, named here (bugs imports nothing of it)
# and rendered only for the rows that have a link: the others cost nothing.
JIRA_CELL_TEMPLATE = "integrations/list_cell.html"
NO_JIRA_CELL = '<span class="muted" aria-label="Not in Jira">—</span>'


# A row not in Jira yet gets a "Send" button when its app can send (htmx swaps the cell for the
# link's state; without JavaScript it posts and comes back to the report's Jira panel).
JIRA_SEND_HTML = (
    '<form method="post" action="{url}" class="inline-form" hx-post="{url}?cell=1" '
    'hx-target="closest td" hx-swap="innerHTML" hx-disabled-elt="find button">{csrf}'
    '<button type="submit" class="btn btn-small" aria-label="Send #{number} to Jira">Send</button></form>'
)


def jira_can_send(app: App | None) -> bool:
    """Whether the app's Jira connection can take reports (its reverse relation, by name)."""
    connection = getattr(app, "jira_connection", None) if app is not None else None
    return bool(connection is not None and connection.project_id and connection.status != "disconnected")


def _jira_cell(report: BugReport, template: Any, send: str) -> str:
    """The report's Jira issue(s) (`issue_links`, a reverse relation the list prefetches)."""
    links = list(report.issue_links.all())  # type: ignore[attr-defined]
    if links:
        return template.render({"links": links})
    return send or NO_JIRA_CELL


def _ago(moment: datetime, now: datetime) -> str:
    """ "3 minutes ago", "2 days ago", "4 Nov 2026": naturaltime's idea at a fraction of its cost."""
    seconds = int((now - moment).total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            if unit == "day" and count > 30:
                return f"{moment:%-d %b %Y}"
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def list_rows(
    reports: Sequence[BugReport],
    *,
    members: Sequence[User],
    querystring: str,
    csrf_token: str,
    all_apps: bool,
    jira_send: bool = False,
    jira_links: bool = True,
) -> list[SafeString]:
    """The <tr> of each report, as templates/bugs/report_list.html shows them. `jira_send`: rows
    not in Jira get a Send button (the app can send); `jira_links` False: the app has no Jira
    connection, so no row has a link and none is looked up."""
    detail = reverse("report_detail", args=[_APP, _NUMBER])
    triage = reverse("report_triage", args=[_APP, _NUMBER])
    suffix = f"?{querystring}" if querystring else ""
    statuses, priorities = Options(Status.choices), Options(Priority.choices)
    assignees = Options([("", "Unassigned"), *((m.pk, m.display_name) for m in members)])
    csrf = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', csrf_token)
    scope = mark_safe('<input type="hidden" name="scope" value="all">' if all_apps else "")  # noqa: S308
    now = timezone.now()
    jira_cell = get_template(JIRA_CELL_TEMPLATE)
    send_url = reverse("jira_send", args=[_APP, _NUMBER]) if jira_send else ""

    def link(template: str, report: BugReport) -> str:
        return template.replace(str(_APP), str(report.app_id)).replace(str(_NUMBER), str(report.number))

    rows = []
    for r in reports:
        device = " · ".join(part for part in (r.device_model, f"{r.os_name} {r.os_version}".strip()) if part)
        cell = {"url": escape(link(triage, r)), "pk": r.pk, "number": r.number, "csrf": csrf, "scope": scope}
        rows.append(
            ROW_HTML.format(
                pk=r.pk,
                number=r.number,
                url=escape(link(detail, r) + suffix),
                title=escape(r.title),
                tags="".join(f' <span class="badge">{escape(t)}</span>' for t in r.tags[:3]),
                priority_cell=CELL_HTML.format(
                    key="p",
                    name="priority",
                    label="Priority",
                    css=f"pill-select prio-{escape(r.priority)}",
                    data=" data-priority-select",
                    options=priorities.render(r.priority),
                    **cell,
                ),
                status_cell=CELL_HTML.format(
                    key="s",
                    name="status",
                    label="Status",
                    css=f"pill-select status-{escape(r.status)}",
                    data=" data-status-select",
                    options=statuses.render(r.status),
                    **cell,
                ),
                jira_cell=_jira_cell(
                    r,
                    jira_cell,
                    JIRA_SEND_HTML.format(url=escape(link(send_url, r)), csrf=csrf, number=r.number)
                    if jira_send
                    else "",
                )
                if jira_links
                else NO_JIRA_CELL,
                app_cell=f"<td>{escape(r.app.name)}</td>\n" if all_apps else "",
                device=escape(device) if device else "—",
                version=escape(r.app_version) if r.app_version else "—",
                reporter=escape(r.reporter_name or r.reporter_email) or "—",
                assignee_cell=CELL_HTML.format(
                    key="a",
                    name="assignee",
                    label="Assignee",
                    css="compact-select",
                    data="",
                    options=assignees.render(r.assignee_id or ""),
                    **cell,
                ),
                created_iso=r.created_at.isoformat(),
                created_title=f"{r.created_at:%-d %b %Y, %H:%M}",
                created_ago=_ago(r.created_at, now),
            )
        )
    # Safe: every text value above went through escape().
    return [mark_safe(row) for row in rows]  # noqa: S308


def filter_selects(form: Any, *, with_app: bool) -> dict[str, SafeString]:
    """The filter bar's dropdowns (app, status, priority, assignee, sort) as option markup, the
    current value selected: Django's widget templates cost ~0.7 ms each, on every list load."""
    data = form.data if form.is_bound else {}
    selects = {}
    names = (
        ("app", "status", "priority", "assignee", "sort")
        if with_app
        else ("status", "priority", "assignee", "sort")
    )
    for name in names:
        field = form.fields[name]
        choices = [(str(v), str(label)) for v, label in field.choices]
        selects[name] = Options(choices).render(data.get(name, ""))
    return selects


def grouped_options(choices: Iterable[tuple[str, Any]]) -> SafeString:
    """<option>s and <optgroup>s for a Django choices list (groups are (label, [(v, l), ...]))."""
    parts = []
    for value, label in choices:
        if isinstance(label, list | tuple):
            parts.append(f'<optgroup label="{escape(value)}">{Options(label).render(None)}</optgroup>')
        else:
            parts.append(Options([(value, label)]).render(None))
    return mark_safe("".join(parts))  # noqa: S308  (Options escapes values and labels)

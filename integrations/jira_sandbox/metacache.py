"""A per-process cache of each site's fixed metadata, so a REST call does not reload it.

Every create or search would otherwise query and instantiate the same rows: the projects' screens
and their fields, select options, issue types, priorities, statuses, resolutions, transitions.
The cache is keyed by the site's primary key AND its `meta_stamp`, which models.py renews on every
save or delete of such a row (and `metadata_changed` for queryset updates). The pipeline reads the
Site row on every call anyway, so checking the stamp costs nothing, and a change made by any
process is seen by the next call of every process.

The cached rows are shared by threads and requests: treat them as read-only.

The pipeline binds the site of the REST call being served (`bind`/`unbind`), so issues loaded
without their site (search joins only the people) get the request's own Site row and metadata.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .models import (
    Field,
    FieldOption,
    IssueType,
    Priority,
    Project,
    ScreenField,
    Site,
    Status,
    Transition,
    Webhook,
)


@dataclass(frozen=True)
class ScreenRow:
    """One field on a project's create screen."""

    field: Field
    required: bool


@dataclass
class SiteMeta:
    """The metadata of one site at one stamp. Lists keep the order the database queries gave."""

    stamp: str
    projects: dict[int, Project]  # by pk, with `lead` loaded
    screens: dict[int, list[ScreenRow]]  # project pk → its screen, in ScreenField pk order
    issue_types: list[IssueType]  # by type_id
    priorities: list[Priority]  # by sequence
    statuses: list[Status]  # by status_id
    transitions: list[Transition]  # by transition_id, with from_status and to_status loaded
    options: dict[int, list[FieldOption]] = field(default_factory=dict)  # field pk → by option_id
    by_pk: dict[type, dict[int, Any]] = field(default_factory=dict)

    def row(self, model: type, pk: int | None) -> Any:
        """The cached row of `model` with this pk, or None."""
        return self.by_pk.get(model, {}).get(pk) if pk is not None else None

    def initial_status(self) -> Status | None:
        """The status a new issue starts in: the first (by pk) of category new, else the first."""
        ordered = sorted(self.statuses, key=lambda s: s.pk)
        return next(
            (s for s in ordered if s.category == Status.Category.NEW), ordered[0] if ordered else None
        )

    def resolution_options(self) -> list[FieldOption]:
        """The options of the `resolution` field, by option_id."""
        resolution = next((f for f in self.fields() if f.field_id == "resolution"), None)
        return self.options.get(resolution.pk, []) if resolution is not None else []

    def fields(self) -> list[Field]:
        return list(self.by_pk.get(Field, {}).values())


_lock = threading.Lock()
_cache: dict[int, SiteMeta] = {}
# site pk → (stamp, has any webhook registration): apart, so an event on a cold cache costs one query.
_webhooks: dict[int, tuple[str, bool]] = {}
_bound = threading.local()  # .site: the Site row of the REST call this thread is serving


def forget() -> None:
    """Drop every cached entry of this process (a metadata write in this process)."""
    with _lock:
        _cache.clear()
        _webhooks.clear()


def for_site(site: Site) -> SiteMeta:
    """The site's metadata as of `site.meta_stamp`, loaded once per process and stamp."""
    found = _cache.get(site.pk)
    if found is not None and found.stamp == site.meta_stamp:
        return found
    meta = _load(site)
    with _lock:
        _cache[site.pk] = meta
    return meta


def has_webhooks(site: Site) -> bool:
    """Whether the site has any webhook registration at all (enabled or not), as of its stamp."""
    found = _webhooks.get(site.pk)
    if found is not None and found[0] == site.meta_stamp:
        return found[1]
    exists = Webhook.objects.filter(site_id=site.pk).exists()
    with _lock:
        _webhooks[site.pk] = (site.meta_stamp, exists)
    return exists


def bind(site: Site | None) -> None:
    """The REST call this thread serves is on `site` (None: no call any more)."""
    _bound.site = site


def bound_site(site_id: int) -> Site | None:
    """The site of the call being served, if it is the site with this id."""
    site = getattr(_bound, "site", None)
    return site if site is not None and site.pk == site_id else None


def _load(site: Site) -> SiteMeta:
    projects = {p.pk: p for p in Project.objects.filter(site_id=site.pk).select_related("lead")}
    fields = {f.pk: f for f in Field.objects.filter(site_id=site.pk)}
    screens: dict[int, list[ScreenRow]] = {pk: [] for pk in projects}
    for row in ScreenField.objects.filter(project__site_id=site.pk).order_by("pk"):
        screens.setdefault(row.project_id, []).append(ScreenRow(fields[row.field_id], row.required))
    options: dict[int, list[FieldOption]] = {}
    for option in FieldOption.objects.filter(field__site_id=site.pk).order_by("option_id"):
        option.field = fields[option.field_id]
        options.setdefault(option.field_id, []).append(option)
    statuses = list(Status.objects.filter(site_id=site.pk))
    status_by_pk = {s.pk: s for s in statuses}
    transitions = list(Transition.objects.filter(site_id=site.pk).order_by("transition_id"))
    for transition in transitions:
        transition.to_status = status_by_pk[transition.to_status_id]
        transition.from_status = status_by_pk.get(transition.from_status_id)  # type: ignore[arg-type]
    issue_types = list(IssueType.objects.filter(site_id=site.pk))
    priorities = list(Priority.objects.filter(site_id=site.pk))
    meta = SiteMeta(
        stamp=site.meta_stamp,
        projects=projects,
        screens=screens,
        issue_types=issue_types,
        priorities=priorities,
        statuses=statuses,
        transitions=transitions,
        options=options,
    )
    meta.by_pk = {
        Project: projects,
        Field: fields,
        IssueType: {t.pk: t for t in issue_types},
        Priority: {p.pk: p for p in priorities},
        Status: status_by_pk,
        FieldOption: {o.pk: o for group in options.values() for o in group},
    }
    return meta


# Issue foreign keys the cache can fill: attribute → (model, id attribute).
ISSUE_METADATA = {
    "project": (Project, "project_id"),
    "issue_type": (IssueType, "issue_type_id"),
    "status": (Status, "status_id"),
    "priority": (Priority, "priority_id"),
    "resolution": (FieldOption, "resolution_id"),
}


def of_issue(issue: Any) -> SiteMeta:
    """The metadata of the issue's site, with the issue's metadata foreign keys filled from it
    (and its site: the bound call's Site row when the query did not load it)."""
    cache = issue._state.fields_cache
    if "site" not in cache:
        site = bound_site(issue.site_id)
        if site is not None:
            cache["site"] = site
    meta = for_site(issue.site)
    attach(issue, meta)
    return meta


def attach(issue: Any, meta: SiteMeta) -> None:
    """Fill the issue's metadata foreign keys from the cache where they are not loaded yet."""
    cache = issue._state.fields_cache
    for name, (model, id_attribute) in ISSUE_METADATA.items():
        if name in cache:
            continue
        row = meta.row(model, getattr(issue, id_attribute))
        if row is not None:
            cache[name] = row

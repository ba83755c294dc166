"""The JQL subset: parsing, Jira's error texts, every field and operator, dates and time zones,
ORDER BY, the unbounded rule, webhook matching and the dynamic-webhook subset."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from integrations.jira_sandbox import jql
from integrations.jira_sandbox.models import (
    Account,
    Issue,
    IssueLabel,
    IssueType,
    Priority,
    Project,
    Site,
    Status,
)

pytestmark = pytest.mark.django_db

SAMPLE = ["MOB-1", "MOB-2", "MOB-3", "OPS-1", "WEB-1"]


def make_issue(
    project: str = "MOB",
    *,
    summary: str = "Made by a test",
    status: str = "10000",
    type_id: str = "10004",
    priority: str | None = "3",
    labels: Iterable[str] = (),
    assignee: Account | None = None,
    created: datetime | None = None,
    updated: datetime | None = None,
    indexed_at: datetime | None = None,
    properties: dict[str, Any] | None = None,
    site_name: str = "acme",
) -> Issue:
    """An issue written straight to the tables (ids from the site's counters, IssueLabel rows)."""
    site = Site.objects.get(name=site_name)
    project_row = Project.objects.get(site=site, key=project)
    Site.objects.filter(pk=site.pk).update(next_issue_id=F("next_issue_id") + 1)
    Project.objects.filter(pk=project_row.pk).update(next_issue_number=F("next_issue_number") + 1)
    now = timezone.now()
    created = created or now
    issue = Issue.objects.create(
        site=site,
        project=project_row,
        issue_id=site.next_issue_id,
        number=project_row.next_issue_number,
        key=f"{project}-{project_row.next_issue_number}",
        issue_type=IssueType.objects.get(site=site, type_id=type_id),
        summary=summary,
        status=Status.objects.get(site=site, status_id=status),
        priority=Priority.objects.get(site=site, priority_id=priority) if priority else None,
        assignee=assignee,
        labels=list(labels),
        properties=properties or {},
        created=created,
        updated=updated or created,
        indexed_at=indexed_at or now,
    )
    IssueLabel.objects.bulk_create([IssueLabel(issue=issue, name=name) for name in labels])
    return issue


def person(key: str) -> Account:
    return Account.objects.get(email=f"{key}@acme.example")


def acme() -> Site:
    return Site.objects.get(name="acme")


def keys(text: str, *, account: Account | None = None) -> list[str]:
    q, _ = jql.issue_filter(acme(), text, account=account)
    return sorted(Issue.objects.filter(site=acme()).filter(q).values_list("key", flat=True))


def ordered(text: str, *, account: Account | None = None) -> list[str]:
    q, order = jql.issue_filter(acme(), text, account=account)
    return list(Issue.objects.filter(site=acme()).filter(q).order_by(*order).values_list("key", flat=True))


def error(text: str, *, account: Account | None = None) -> str:
    with pytest.raises(jql.JqlError) as caught:
        jql.issue_filter(acme(), text, account=account)
    return caught.value.message


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    query = jql.parse("project = A OR project = B AND status = C")
    assert isinstance(query.where, jql.BoolOp) and query.where.kind == "or"
    left, right = query.where.children
    assert isinstance(left, jql.Clause) and left.field == "project"
    assert isinstance(right, jql.BoolOp) and right.kind == "and"


def test_parentheses_override_precedence() -> None:
    query = jql.parse("(project = A OR project = B) AND NOT status = C")
    assert isinstance(query.where, jql.BoolOp) and query.where.kind == "and"
    grouped, negated = query.where.children
    assert isinstance(grouped, jql.BoolOp) and grouped.kind == "or"
    assert isinstance(negated, jql.Not) and isinstance(negated.child, jql.Clause)


def test_operators_and_operands_are_read() -> None:
    query = jql.parse(
        'labels NOT IN (a, "b c") and assignee is not EMPTY and updated >= -15m '
        "and assignee = currentUser() and summary !~ 'x'"
    )
    parsed = [(c.field, c.op) for c in jql.clauses(query.where)]
    assert parsed == [
        ("labels", "not in"),
        ("assignee", "is not"),
        ("updated", ">="),
        ("assignee", "="),
        ("summary", "!~"),
    ]
    operands = [c.operand for c in jql.clauses(query.where)]
    assert operands[0] == jql.ListOperand((jql.Value("a", False, 15), jql.Value("b c", True, 18)), 14)
    assert isinstance(operands[1], jql.Empty)
    assert operands[2] == jql.Value("-15m", False, 66)
    assert isinstance(operands[3], jql.Function) and operands[3].name == "currentUser"


def test_order_by_is_read_with_directions() -> None:
    query = jql.parse("project = MOB order by priority DESC, created, key asc")
    assert [(s.field, s.descending) for s in query.order] == [
        ("priority", True),
        ("created", None),
        ("key", False),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "project x MOB",
            "Error in the JQL Query: Expecting operator but got 'x'. The valid operators are '=', '!=', "
            "'<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character 9)",
        ),
        (
            "project = ",
            "Error in the JQL Query: Expecting either a value, list or function before the end of the "
            "query. (line 1, character 11)",
        ),
        (
            "project = IN",
            "Error in the JQL Query: Expecting either a value, list or function but got 'IN'. You must "
            "surround 'IN' in quotation marks to use it as a value. (line 1, character 11)",
        ),
        (
            'summary ~ "open',
            "Error in the JQL Query: The quoted string 'open' has not been completed. (line 1, character 11)",
        ),
        (
            "(project = MOB",
            "Error in the JQL Query: Expecting ')' before the end of the query. (line 1, character 15)",
        ),
        (
            "project = MOB WEB",
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'WEB'. (line 1, character 15)",
        ),
        (
            "assignee = a@b",
            "Error in the JQL Query: The character '@' is a reserved JQL character. You must enclose it in "
            "a string or use the escape '\\u0040' instead. (line 1, character 13)",
        ),
        (
            "project = MOB\nAND = 3",
            "Error in the JQL Query: Expecting a field name but got '='. (line 2, character 5)",
        ),
    ],
)
def test_syntax_errors_carry_jiras_text_and_position(text: str, message: str) -> None:
    with pytest.raises(jql.JqlError) as caught:
        jql.parse(text)
    assert caught.value.message == message


def test_order_by_takes_at_most_seven_fields() -> None:
    seven = "project = MOB ORDER BY key, id, created, updated, priority, status, summary"
    assert len(jql.parse(seven).order) == 7
    with pytest.raises(jql.JqlError, match="at most 7"):
        jql.parse(seven + ", assignee")


def test_is_bounded_needs_a_restriction() -> None:
    assert jql.is_bounded(jql.parse("project = MOB ORDER BY key"))
    assert not jql.is_bounded(jql.parse("ORDER BY key DESC"))
    assert not jql.is_bounded(jql.parse(""))
    assert not jql.is_bounded(jql.parse("   "))


# ---------------------------------------------------------------------------------------------
# Fields and operators (the seeded acme issues: MOB-1..3, WEB-1, OPS-1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("project = MOB", ["MOB-1", "MOB-2", "MOB-3"]),
        ("project = mob", ["MOB-1", "MOB-2", "MOB-3"]),
        ("project = 10001", ["WEB-1"]),
        ('project = "Operations"', ["OPS-1"]),
        ("project in (WEB, OPS)", ["OPS-1", "WEB-1"]),
        ("project != MOB", ["OPS-1", "WEB-1"]),
        ("project not in (MOB, WEB)", ["OPS-1"]),
        ("issuetype = Bug", ["MOB-1", "MOB-2", "WEB-1"]),
        ("type = 10001", ["MOB-3", "OPS-1"]),
        ('status = "in progress"', ["MOB-2"]),
        ("status = 10001", ["MOB-3"]),
        ('status in ("To Do", Done)', ["MOB-1", "MOB-3", "OPS-1", "WEB-1"]),
        ("statusCategory = done", ["MOB-3"]),
        ('statusCategory = "To Do"', ["MOB-1", "OPS-1", "WEB-1"]),
        ("statuscategory = 4", ["MOB-2"]),
        ("statusCategory != new", ["MOB-2", "MOB-3"]),
        ("labels = crash", ["MOB-2"]),
        ("labels in (ios, ui)", ["MOB-1", "WEB-1"]),
        ("labels != crash", ["MOB-1", "WEB-1"]),  # Jira: != never matches an empty field
        ("labels not in (ui, checkout)", ["MOB-2"]),
        ("labels is EMPTY", ["MOB-3", "OPS-1"]),
        ("labels is not empty", ["MOB-1", "MOB-2", "WEB-1"]),
        ("labels in (crash, EMPTY)", ["MOB-2", "MOB-3", "OPS-1"]),
        ("priority = High", ["MOB-1"]),
        ("priority in (1, Medium)", ["MOB-2", "WEB-1"]),
        ('priority = "normal"', ["OPS-1"]),
        ("assignee is EMPTY", ["MOB-1", "OPS-1", "WEB-1"]),
        ("assignee = null", ["MOB-1", "OPS-1", "WEB-1"]),
        ("summary ~ camera", ["MOB-2"]),
        ('summary ~ "ios CHECKOUT"', ["MOB-1"]),
        ("summary !~ the", ["MOB-1", "MOB-3"]),
        ("key = mob-2", ["MOB-2"]),
        ("issuekey in (MOB-1, WEB-1)", ["MOB-1", "WEB-1"]),
        ("key != MOB-1 AND project = MOB", ["MOB-2", "MOB-3"]),
        ("key > MOB-1", ["MOB-2", "MOB-3"]),
        ("key <= MOB-2", ["MOB-1", "MOB-2"]),
        ("cf[10055] = Production", ["MOB-1", "MOB-2", "MOB-3"]),
        ("Environment = Staging", []),
        ("cf[10055] is EMPTY", ["OPS-1", "WEB-1"]),
    ],
)
def test_fields_and_operators(sandbox: Any, text: str, expected: list[str]) -> None:
    assert keys(text) == expected


def test_ids_match_like_keys(sandbox: Any) -> None:
    ids = dict(Issue.objects.values_list("key", "issue_id"))
    assert keys(f"id = {ids['MOB-3']}") == ["MOB-3"]
    assert keys(f"issue in ({ids['WEB-1']}, OPS-1)") == ["OPS-1", "WEB-1"]
    assert keys(f"id >= {ids['WEB-1']}") == ["OPS-1", "WEB-1"]


def test_users_by_account_id_and_current_user(sandbox: Any) -> None:
    carol, bob = person("carol"), person("bob")
    assert keys(f'assignee = "{carol.account_id}"') == ["MOB-2", "MOB-3"]
    assert keys(f"assignee = {carol.account_id}") == ["MOB-2", "MOB-3"]
    assert keys(f"reporter = {bob.account_id}") == SAMPLE
    # != leaves the unassigned issues out, as Jira does.
    assert keys(f'assignee != "{carol.account_id}"') == []
    assert keys("assignee = currentUser()", account=carol) == ["MOB-2", "MOB-3"]
    assert keys("assignee = currentUser()", account=bob) == []
    assert keys("assignee = currentUser()") == []  # nobody searching: nobody matches
    assert keys("assignee in (currentUser(), EMPTY)", account=carol) == SAMPLE


def test_logic_and_parentheses(sandbox: Any) -> None:
    assert keys('project = MOB AND status = "To Do" OR project = WEB') == ["MOB-1", "WEB-1"]
    assert keys('project = MOB AND (status = "To Do" OR project = WEB)') == ["MOB-1"]
    assert keys("NOT project = MOB") == ["OPS-1", "WEB-1"]
    assert keys("project = MOB AND NOT (labels = crash OR labels = ios)") == ["MOB-3"]
    assert keys("labels = crash AND labels = ios") == []
    assert keys("labels = checkout AND labels = ios") == ["MOB-1"]


def test_issue_properties(sandbox: Any) -> None:
    make_issue(properties={"sync": {"state": "linked", "attempts": 3}}, summary="With a property")
    made = make_issue(properties={"sync": {"state": "pending"}})
    assert keys("issue.property[sync].state = linked") == ["MOB-4"]
    assert keys("issue.property[sync].attempts = 3") == ["MOB-4"]
    assert keys("issue.property[sync].state in (pending, nope)") == [made.key]
    assert keys("issue.property[sync].state != linked") == [made.key]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("status in (Done, Closed)", "The value 'Closed' does not exist for the field 'status'."),
        ("issuetype = Epic", "The value 'Epic' does not exist for the field 'issuetype'."),
        ("priority = Urgent", "The value 'Urgent' does not exist for the field 'priority'."),
        ("statusCategory = later", "The value 'later' does not exist for the field 'statusCategory'."),
        ("assignee = nobody-here", "The value 'nobody-here' does not exist for the field 'assignee'."),
        ("watchCount = 3", "Field 'watchCount' does not exist or you do not have permission to view it."),
        ("cf[99999] = x", "Field 'cf[99999]' does not exist or you do not have permission to view it."),
        ("key = MOB-999", "An issue with key 'MOB-999' does not exist for field 'key'."),
        ("key = NOPE-1", "The issue key 'NOPE-1' for field 'key' is invalid."),
        ("issuekey = banana", "The issue key 'banana' for field 'issuekey' is invalid."),
        ("summary = Checkout", "The operator '=' is not supported by the 'summary' field."),
        ("project ~ MOB", "The operator '~' is not supported by the 'project' field."),
        ("status is EMPTY", "The operator 'IS' is not supported by the 'status' field."),
        ("assignee = nobody()", "Unable to find JQL function 'nobody()'."),
        ("project = MOB ORDER BY labels", "Field 'labels' does not support sorting."),
        ("project = MOB ORDER BY watchCount", "Not able to sort using field 'watchCount'."),
    ],
)
def test_semantic_errors(sandbox: Any, text: str, message: str) -> None:
    assert error(text) == message


# ---------------------------------------------------------------------------------------------
# Dates, time zones, relative periods
# ---------------------------------------------------------------------------------------------

MOMENT = datetime(2026, 3, 10, 15, 30, 30, tzinfo=UTC)  # New York is at UTC-4 then (DST since Mar 8)


def dated(sandbox: Any) -> Issue:
    return make_issue("WEB", summary="Dated", created=MOMENT - timedelta(days=2), updated=MOMENT)


def in_zone(zone: str) -> Account:
    account = person("alice")
    account.time_zone = zone
    account.save(update_fields=["time_zone"])
    return account


def hit(issue: Issue, condition: str, account: Account | None = None) -> bool:
    return keys(f"key = {issue.key} AND ({condition})", account=account) == [issue.key]


def test_date_literals_are_read_in_the_searching_accounts_time_zone(sandbox: Any) -> None:
    issue = dated(sandbox)  # updated 2026-03-10 15:30:30Z, created 2026-03-08 15:30:30Z
    for literal in ('"2026/03/10 12:00"', '"2026-03-10 12:00"'):
        # 12:00 in UTC is before the update; 12:00 in New York (UTC-4) is 16:00Z, after it.
        assert hit(issue, f"updated >= {literal}", in_zone("UTC"))
        assert not hit(issue, f"updated >= {literal}", in_zone("America/New_York"))
        assert hit(issue, f"updated < {literal}", in_zone("America/New_York"))
    # A date alone is that day's midnight in the zone: 03-09 00:00 in Tokyo is 03-08 15:00Z.
    assert hit(issue, 'created >= "2026/03/09"', in_zone("Asia/Tokyo"))
    assert not hit(issue, 'created >= "2026/03/09"', in_zone("UTC"))
    # Nobody searching (no account): UTC.
    assert not hit(issue, 'created >= "2026/03/09"')
    assert hit(issue, 'created >= "2026-03-08 15:30"')


def test_epoch_milliseconds_ignore_the_time_zone(sandbox: Any) -> None:
    issue = dated(sandbox)
    before = int((MOMENT - timedelta(minutes=5)).timestamp() * 1000)
    after = int((MOMENT + timedelta(minutes=5)).timestamp() * 1000)
    for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
        account = in_zone(zone)
        assert hit(issue, f"updated >= {before}", account)
        assert not hit(issue, f"updated >= {after}", account)


def test_dates_have_a_one_minute_resolution(sandbox: Any) -> None:
    issue = dated(sandbox)  # updated 15:30:30
    at = '"2026-03-10 15:30"'
    assert hit(issue, f"updated >= {at}")
    assert not hit(issue, f"updated > {at}")
    assert hit(issue, f"updated = {at}")
    assert hit(issue, f"updated in ({at}, '2026-01-01')")
    assert not hit(issue, f"updated != {at}")
    assert hit(issue, f"updated <= {at}")
    assert not hit(issue, f"updated < {at}")
    assert hit(issue, 'updated > "2026-03-10 15:29"')
    # Epoch milliseconds are truncated to their minute too.
    later_in_the_minute = int((MOMENT + timedelta(seconds=20)).timestamp() * 1000)
    assert hit(issue, f"updated >= {later_in_the_minute}")


def test_relative_periods_and_now(sandbox: Any) -> None:
    now = timezone.now()
    recent = make_issue("OPS", summary="Recent", updated=now - timedelta(minutes=10))
    older = make_issue("OPS", summary="Older", updated=now - timedelta(hours=3))
    week = make_issue("OPS", summary="Last week", updated=now - timedelta(days=6))
    month = make_issue("OPS", summary="Last month", updated=now - timedelta(days=30))
    made = [recent.key, older.key, week.key, month.key]

    def found(text: str) -> list[str]:
        return [k for k in keys(text) if k in made]

    assert found("project = OPS AND updated >= -15m") == [recent.key]
    assert found('project = OPS AND updated >= "-2h"') == [recent.key]
    assert found("project = OPS AND updated >= -1d") == sorted([recent.key, older.key])
    assert found("project = OPS AND updated >= -1w") == sorted([recent.key, older.key, week.key])
    assert found("project = OPS AND updated < -1w") == [month.key]
    assert found('project = OPS AND updated >= "-4w 3d"') == sorted(made)
    assert found("project = OPS AND updated <= now()") == sorted(made)
    assert found("project = OPS AND updated > now()") == []


def test_bad_dates_are_refused(sandbox: Any) -> None:
    assert error('updated > "yesterday"') == (
        "Date value 'yesterday' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )
    assert error('created >= "2026/02/30"').startswith("Date value '2026/02/30' for field 'created'")
    with pytest.raises(jql.JqlError, match="reserved JQL character"):
        jql.parse("updated >= 2026/03/10")  # unquoted slashes, as Jira refuses them


# ---------------------------------------------------------------------------------------------
# ORDER BY
# ---------------------------------------------------------------------------------------------


def test_order_by(sandbox: Any) -> None:
    assert ordered("project = MOB ORDER BY priority DESC") == ["MOB-2", "MOB-1", "MOB-3"]
    assert ordered("project = MOB ORDER BY priority ASC") == ["MOB-3", "MOB-1", "MOB-2"]
    assert ordered("project in (MOB, WEB) ORDER BY key") == ["MOB-1", "MOB-2", "MOB-3", "WEB-1"]
    assert ordered("project in (MOB, WEB) ORDER BY key DESC") == ["WEB-1", "MOB-3", "MOB-2", "MOB-1"]
    assert ordered("project = MOB ORDER BY status ASC, key DESC") == ["MOB-3", "MOB-2", "MOB-1"]


def test_default_order_is_id_descending(sandbox: Any) -> None:
    expected = list(Issue.objects.order_by("-issue_id").values_list("key", flat=True))
    assert ordered("reporter is not EMPTY") == expected


def test_ties_are_settled_by_id(sandbox: Any) -> None:
    stamp = timezone.now() - timedelta(hours=1)
    made = [make_issue("OPS", updated=stamp).key for _ in range(3)]
    assert [k for k in ordered("project = OPS ORDER BY updated ASC") if k in made] == made[::-1]


# ---------------------------------------------------------------------------------------------
# Webhook filters
# ---------------------------------------------------------------------------------------------


def test_matches_evaluates_one_issue(sandbox: Any) -> None:
    issue = Issue.objects.get(key="MOB-2")
    assert jql.matches(issue, "project = MOB AND labels = crash")
    assert not jql.matches(issue, "project = WEB")
    assert jql.matches(issue, "")
    assert jql.matches(issue, "   ")
    assert jql.matches(issue, "status = 3 OR project = WEB")
    # A value that does not exist (in a stored filter) simply never matches.
    assert not jql.matches(issue, "project = GONE")
    assert jql.matches(issue, "project = GONE OR issuetype = Bug")


def test_webhook_subset_accepts_its_fields_and_operators() -> None:
    text = (
        "project = MOB AND issuetype in (Bug, Task) AND status != Done AND assignee not in (x) "
        "AND reporter = y AND issueKey = MOB-1 AND issue.property[sync].state = on AND cf[10010] = z"
    )
    assert jql.webhook_filter_errors(text) == []


def test_webhook_subset_refuses_other_clauses_and_operators() -> None:
    assert jql.webhook_filter_errors("project = MOB AND watchCount = 3") == [
        "The clause watchCount is unsupported"
    ]
    assert jql.webhook_filter_errors('summary ~ "x" OR labels = y') == [
        "The clause summary is unsupported",
        "The clause labels is unsupported",
    ]
    assert jql.webhook_filter_errors("assignee is EMPTY") == ["The operator IS is unsupported"]
    assert jql.webhook_filter_errors("project = MOB ORDER BY key") == ["The ORDER BY clause is unsupported"]
    (syntax,) = jql.webhook_filter_errors("project =")
    assert syntax.startswith("Error in the JQL Query: Expecting either a value")

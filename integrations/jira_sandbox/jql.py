"""A small JQL: a tokenizer, a recursive-descent parser and a compiler to Django `Q` objects.

The subset the product and the webhook filters use (API-NOTES §9, §2.1):

- fields: project (key, id or name), key / issuekey / issue / id, issuetype / type (id or name),
  status (id or name), statusCategory (key, name or id), labels, assignee / reporter (accountId,
  `currentUser()`, EMPTY), priority (id or name), summary, created, updated; `cf[NNNNN]` or a
  custom field's name, and `issue.property[key].path` for simple (non-array) values;
- operators =, !=, IN, NOT IN, >, >=, <, <=, ~, !~, IS [NOT] EMPTY; AND, OR, NOT, parentheses
  (AND binds tighter than OR); `ORDER BY` of at most 7 fields;
- date values: "yyyy/MM/dd HH:mm", "yyyy-MM-dd HH:mm", "yyyy/MM/dd", "yyyy-MM-dd" in the time zone of
  the account searching, epoch milliseconds, periods ("-15m", "-2h", "-1d", "-1w", "4w 2d") and
  `now()`.

Jira semantics kept on purpose:

- `!=` and `NOT IN` never match an empty field (`assignee != x` leaves unassigned issues out);
- dates have a one-minute resolution: the index holds each time truncated to its minute, so
  `updated > "10:00"` starts at 10:01 and `updated <= "10:00"` ends at 10:00:59.999;
- a value that does not exist is an error (`project = NOPE`, `key = MOB-999`), not an empty result.

Labels are matched through the IssueLabel rows (an indexed join on every database), never a JSON
`contains` lookup (SQLite has none).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q
from django.utils import timezone

from . import metacache
from .models import Account, Field, Issue, IssueLabel, Project, Site

MAX_SORT_FIELDS = 7
VALID_OPERATORS = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'."
)
DATE_FORMATS_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
    "or a period format e.g. '-5d', '4w 2d'."
)

MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__isnull=True)


class JqlError(ValueError):
    """A query Jira would refuse; `message` is Jira's text for the 400's errorMessages."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------

# Characters that end an unquoted word; `[`, `]` and `.` stay inside words for `cf[10055]` and
# `issue.property[key].path`, which Jira's lexer also reads as one field name.
_BREAKS = set(" \t\r\n()=!<>~,\"'")
# Jira reserves these in unquoted values ("The character '/' is a reserved JQL character").
_RESERVED_CHARS = set("+.,;?|*/%^$#@[]")
_OPERATORS = ("!=", "!~", ">=", "<=", "=", "~", ">", "<")
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by"}


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | op | ( | ) | , | eof
    text: str
    pos: int  # offset in the query


def _where(text: str, pos: int) -> str:
    """Jira's position suffix: 1-based line and character."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"(line {line}, character {column})"


def _syntax(text: str, pos: int, message: str) -> JqlError:
    return JqlError(f"Error in the JQL Query: {message} {_where(text, pos)}")


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; quoted strings keep their content, escapes resolved."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            tokens.append(Token(char, char, i))
            i += 1
        elif char in "\"'":
            value, i = _quoted(text, i)
            tokens.append(value)
        elif any(text.startswith(op, i) for op in _OPERATORS):
            op = next(op for op in _OPERATORS if text.startswith(op, i))
            tokens.append(Token("op", op, i))
            i += len(op)
        elif char == "!":
            raise _syntax(
                text,
                i,
                "The character '!' is a reserved JQL character. You must enclose it in a string "
                "or use the escape '\\u0021' instead.",
            )
        else:
            start = i
            while i < n and text[i] not in _BREAKS:
                i += 1
            tokens.append(Token("word", text[start:i], start))
    tokens.append(Token("eof", "", n))
    return tokens


def _quoted(text: str, start: int) -> tuple[Token, int]:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(text[i + 1], text[i + 1]))
            i += 2
        elif char == quote:
            return Token("string", "".join(out), start), i + 1
        else:
            out.append(char)
            i += 1
    raise _syntax(text, start, f"The quoted string '{''.join(out)}' has not been completed.")


# ---------------------------------------------------------------------------------------------
# The syntax tree
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool
    pos: int


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Empty:
    pos: int


Item = Value | Function | Empty


@dataclass(frozen=True)
class ListOperand:
    items: tuple[Item, ...]
    pos: int


Operand = Item | ListOperand


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # "=", "!=", ">", ">=", "<", "<=", "~", "!~", "in", "not in", "is", "is not"
    operand: Operand
    pos: int


@dataclass(frozen=True)
class BoolOp:
    kind: str  # "and" | "or"
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Clause | BoolOp | Not


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool | None  # None: the field's default (ascending)
    pos: int


@dataclass(frozen=True)
class Query:
    text: str
    where: Node | None
    order: tuple[Sort, ...]


def _display(op: str) -> str:
    return op.upper() if op[0].isalpha() else op


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


class _Parser:
    """query := [or] [ORDER BY sort {, sort}];  or := and {OR and};  and := not {AND not};
    not := NOT not | ( or ) | clause;  clause := field op operand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # Token helpers -----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _word(self, *words: str, offset: int = 0) -> bool:
        token = self.tokens[min(self.i + offset, len(self.tokens) - 1)]
        return token.kind == "word" and token.text.lower() in words

    def _advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _fail(self, message: str, token: Token | None = None) -> JqlError:
        return _syntax(self.text, (token or self.tok).pos, message)

    def _got(self, expecting: str, suffix: str = "") -> JqlError:
        token = self.tok
        if token.kind == "eof":
            return self._fail(f"Expecting {expecting} before the end of the query.{suffix}")
        return self._fail(f"Expecting {expecting} but got '{token.text}'.{suffix}")

    # Grammar -----------------------------------------------------------------------------

    def parse(self) -> Query:
        where = None
        if self.tok.kind != "eof" and not self._order_by_ahead():
            where = self._or()
        order = self._order_by() if self._order_by_ahead() else ()
        if self.tok.kind != "eof":
            raise self._got("either 'OR' or 'AND'")
        return Query(text=self.text, where=where, order=order)

    def _order_by_ahead(self) -> bool:
        return self._word("order") and self._word("by", offset=1)

    def _or(self) -> Node:
        children = [self._and()]
        while self._word("or"):
            self._advance()
            children.append(self._and())
        return children[0] if len(children) == 1 else BoolOp("or", tuple(children))

    def _and(self) -> Node:
        children = [self._not()]
        while self._word("and"):
            self._advance()
            children.append(self._not())
        return children[0] if len(children) == 1 else BoolOp("and", tuple(children))

    def _not(self) -> Node:
        if self._word("not"):
            self._advance()
            return Not(self._not())
        if self.tok.kind == "(":
            self._advance()
            inner = self._or()
            if self.tok.kind != ")":
                raise self._got("')'")
            self._advance()
            return inner
        return self._clause()

    def _clause(self) -> Clause:
        token = self.tok
        if token.kind not in ("word", "string") or (token.kind == "word" and token.text.lower() in _KEYWORDS):
            raise self._got("a field name")
        self._advance()
        op = self._operator()
        operand = self._operand(op)
        return Clause(field=token.text, op=op, operand=operand, pos=token.pos)

    def _operator(self) -> str:
        token = self.tok
        if token.kind == "op":
            self._advance()
            return token.text
        if self._word("in"):
            self._advance()
            return "in"
        if self._word("not") and self._word("in", offset=1):
            self.i += 2
            return "not in"
        if self._word("is"):
            self._advance()
            if self._word("not"):
                self._advance()
                return "is not"
            return "is"
        raise self._got("operator", f" {VALID_OPERATORS}")

    def _operand(self, op: str) -> Operand:
        if self.tok.kind == "(":
            start = self._advance()
            items = [self._item()]
            while self.tok.kind == ",":
                self._advance()
                items.append(self._item())
            if self.tok.kind != ")":
                raise self._got("')'")
            self._advance()
            return ListOperand(tuple(items), start.pos)
        return self._item()

    def _item(self) -> Item:
        token = self.tok
        if token.kind == "string":
            self._advance()
            return Value(token.text, True, token.pos)
        if token.kind != "word" or token.text.lower() in _KEYWORDS - {"empty", "null"}:
            if token.kind == "eof":
                raise self._got("either a value, list or function")
            raise self._got(
                "either a value, list or function",
                f" You must surround '{token.text}' in quotation marks to use it as a value.",
            )
        self._advance()
        if token.text.lower() in ("empty", "null"):
            return Empty(token.pos)
        if self.tok.kind == "(":
            return self._function(token)
        bad = next((c for c in token.text if c in _RESERVED_CHARS), None)
        if bad is not None:
            raise _syntax(
                self.text,
                token.pos + token.text.index(bad),
                f"The character '{bad}' is a reserved JQL character. You must enclose it in a string "
                f"or use the escape '\\u{ord(bad):04x}' instead.",
            )
        return Value(token.text, False, token.pos)

    def _function(self, name: Token) -> Function:
        self._advance()  # (
        args: list[str] = []
        while self.tok.kind != ")":
            if self.tok.kind not in ("word", "string"):
                raise self._got("')'")
            args.append(self._advance().text)
            if self.tok.kind == ",":
                self._advance()
        self._advance()
        return Function(name.text, tuple(args), name.pos)

    def _order_by(self) -> tuple[Sort, ...]:
        self.i += 2
        sorts = [self._sort()]
        while self.tok.kind == ",":
            self._advance()
            sorts.append(self._sort())
        if len(sorts) > MAX_SORT_FIELDS:
            raise JqlError(f"The ORDER BY clause can contain at most {MAX_SORT_FIELDS} fields.")
        seen: set[str] = set()
        for sort in sorts:
            if sort.field.lower() in seen:
                raise JqlError(f"The sort field '{sort.field}' is referenced multiple times in the JQL sort.")
            seen.add(sort.field.lower())
        return tuple(sorts)

    def _sort(self) -> Sort:
        token = self.tok
        if token.kind not in ("word", "string") or self._word(*_KEYWORDS):
            raise self._got("a field name")
        self._advance()
        descending = None
        if self._word("asc", "desc"):
            descending = self._advance().text.lower() == "desc"
        return Sort(token.text, descending, token.pos)


@lru_cache(maxsize=1024)
def parse(text: str) -> Query:
    """Parse a JQL query (syntax only; field names and values are checked when compiling)."""
    return _Parser(text or "").parse()


def is_bounded(query: Query) -> bool:
    """Jira refuses queries with no search restriction (empty, or only ORDER BY) on /search/jql."""
    return query.where is not None


def clauses(node: Node | None) -> Iterable[Clause]:
    """Every clause of a tree, left to right."""
    if node is None:
        return
    if isinstance(node, Clause):
        yield node
    elif isinstance(node, Not):
        yield from clauses(node.child)
    else:
        for child in node.children:
            yield from clauses(child)


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$")
_PERIOD = re.compile(r"^([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}


def _minute(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(second=0, microsecond=0)


def zone_of(account: Account | None) -> ZoneInfo:
    """The searching account's time zone (Jira reads zone-less literals in it); UTC otherwise."""
    try:
        return ZoneInfo(account.time_zone) if account is not None and account.time_zone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def date_value(text: str, *, field: str, account: Account | None, now: datetime) -> datetime:
    """A JQL date literal → the UTC instant (truncated to the minute) it names."""
    raw = text.strip()
    if raw.isdigit():
        return _minute(datetime.fromtimestamp(int(raw) / 1000, tz=UTC))
    match = _DATE.match(raw)
    if match:
        year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups())
        try:
            local = datetime(year, month, day, hour, minute, tzinfo=zone_of(account))
        except ValueError as exc:
            raise JqlError(
                f"Date value '{text}' for field '{field}' is invalid. {DATE_FORMATS_HELP}"
            ) from exc
        return _minute(local)
    period = _PERIOD.match(raw)
    if period:
        seconds = sum(int(n) * _UNIT_SECONDS[u.lower()] for n, u in _PERIOD_PART.findall(period.group(2)))
        sign = -1 if period.group(1) == "-" else 1
        return _minute(now + timedelta(seconds=sign * seconds))
    raise JqlError(f"Date value '{text}' for field '{field}' is invalid. {DATE_FORMATS_HELP}")


# ---------------------------------------------------------------------------------------------
# Compiler
# ---------------------------------------------------------------------------------------------

EQUALITY = frozenset({"=", "!=", "in", "not in"})
EMPTINESS = frozenset({"is", "is not"})
ORDERING = frozenset({">", ">=", "<", "<="})
TEXT = frozenset({"~", "!~"})

CATEGORY_ALIASES = {
    "new": "new",
    "to do": "new",
    "2": "new",
    "indeterminate": "indeterminate",
    "in progress": "indeterminate",
    "4": "indeterminate",
    "done": "done",
    "complete": "done",
    "3": "done",
}

_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")
_CUSTOM = re.compile(r"^cf\[(\d+)\]$", re.IGNORECASE)
_PROPERTY = re.compile(r"^issue\.property\[([^\]]+)\](?:\.(.+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class FieldSpec:
    """How one JQL field compiles: its operators, how a value matches, what "empty" is."""

    name: str
    ops: frozenset[str]
    # (compiler, clause field text, values) → Q for "the field equals one of these values".
    match: Callable[[_Compiler, str, list[Value | Function]], Q]
    # Q for an empty field; None where the field is never empty.
    empty: Q | None = None
    ordering: Callable[[_Compiler, Clause, Value | Function], Q] | None = None
    text: Callable[[_Compiler, Clause, str], Q] | None = None


class _Compiler:
    def __init__(self, site: Site, account: Account | None, *, strict: bool) -> None:
        self.site = site
        self.account = account
        self.strict = strict
        self.now = timezone.now()
        self._aliases: dict[str, dict[str, set[Any]]] = {}

    def missing(self, message: str) -> Q:
        """A value that does not exist: Jira's 400, or (webhook matching) a clause that never matches."""
        if self.strict:
            raise JqlError(message)
        return MATCH_NONE

    # The tree ----------------------------------------------------------------------------

    def node(self, node: Node) -> Q:
        if isinstance(node, Clause):
            return self.clause(node)
        if isinstance(node, Not):
            return ~self.node(node.child)
        compiled = [self.node(child) for child in node.children]
        result = compiled[0]
        for q in compiled[1:]:
            result = (result & q) if node.kind == "and" else (result | q)
        return result

    def clause(self, clause: Clause) -> Q:
        spec = self.field_spec(clause.field)
        if clause.op not in spec.ops:
            raise JqlError(
                f"The operator '{_display(clause.op)}' is not supported by the '{clause.field}' field."
            )
        operand = clause.operand
        if clause.op in ("in", "not in") and not isinstance(operand, ListOperand):
            operand = ListOperand((operand,), operand.pos)
        if clause.op not in ("in", "not in") and isinstance(operand, ListOperand):
            raise JqlError(
                f"The operator '{_display(clause.op)}' does not support the list operand for field "
                f"'{clause.field}'."
            )
        if clause.op in EMPTINESS:
            if not isinstance(operand, Empty):
                raise JqlError(
                    f"The operator '{_display(clause.op)}' only supports searching for EMPTY values."
                )
            empty = spec.empty if spec.empty is not None else MATCH_NONE
            return empty if clause.op == "is" else ~empty
        if clause.op in EQUALITY:
            items = operand.items if isinstance(operand, ListOperand) else (operand,)
            return self.equality(spec, clause, items)
        assert not isinstance(operand, ListOperand)  # ruled out above
        if isinstance(operand, Empty):
            raise JqlError(
                f"The operator '{_display(clause.op)}' does not support searching for EMPTY values."
            )
        if clause.op in ORDERING and spec.ordering is not None:
            return spec.ordering(self, clause, operand)
        if clause.op in TEXT and spec.text is not None:
            if not isinstance(operand, Value):
                raise JqlError(f"The operator '{clause.op}' does not support functions for '{clause.field}'.")
            q = spec.text(self, clause, operand.text)
            return q if clause.op == "~" else ~q
        raise JqlError(
            f"The operator '{_display(clause.op)}' is not supported by the '{clause.field}' field."
        )

    def equality(self, spec: FieldSpec, clause: Clause, items: tuple[Item, ...]) -> Q:
        values = [i for i in items if not isinstance(i, Empty)]
        has_empty = len(values) < len(items)
        empty = spec.empty if spec.empty is not None else MATCH_NONE
        positive = spec.match(self, clause.field, values) if values else MATCH_NONE
        if clause.op in ("=", "in"):
            return (positive | empty) if has_empty else positive
        # Jira's `!=` and NOT IN never match an empty field.
        return ~empty & ~positive if values else ~empty

    # Fields ------------------------------------------------------------------------------

    def field_spec(self, name: str) -> FieldSpec:
        spec = FIELDS.get(name.lower())
        if spec is not None:
            return spec
        custom = _CUSTOM.match(name)
        if custom:
            return self.custom_spec(f"customfield_{custom.group(1)}", name)
        prop = _PROPERTY.match(name)
        if prop:
            return _property_spec(prop.group(1), prop.group(2))
        row = Field.objects.filter(site=self.site, custom=True, name__iexact=name).first()
        if row is not None:
            return self.custom_spec(row.field_id, name)
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")

    def custom_spec(self, field_id: str, name: str) -> FieldSpec:
        if not Field.objects.filter(site=self.site, field_id=field_id).exists():
            raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
        return _json_spec(f"custom_fields__{field_id}", name, with_options=True)

    def aliases(self, kind: str) -> dict[str, set[Any]]:
        """Lower-cased id, key and name → primary keys, loaded once per kind (the site has few)."""
        if kind not in self._aliases:
            table: dict[str, set[Any]] = {}
            rows, columns = ALIAS_SOURCES[kind]
            for row in rows(metacache.for_site(self.site)):
                for column in columns:
                    table.setdefault(str(getattr(row, column)).lower(), set()).add(row.pk)
            self._aliases[kind] = table
        return self._aliases[kind]

    def resolve(self, kind: str, field: str, values: list[Value | Function]) -> set[Any] | None:
        """Primary keys for the values, or None when one does not exist (and strict mode is off)."""
        table = self.aliases(kind)
        found: set[Any] = set()
        for value in values:
            if isinstance(value, Function):
                raise JqlError(f"Unable to find JQL function '{value.name}()'.")
            pks = table.get(value.text.strip().lower())
            if pks is None:
                self.missing(f"The value '{value.text}' does not exist for the field '{field}'.")
                return None
            found |= pks
        return found

    def instant(self, item: Value | Function, field: str) -> datetime:
        if isinstance(item, Function):
            if item.name.lower() != "now":
                raise JqlError(f"Unable to find JQL function '{item.name}()'.")
            return _minute(self.now)
        return date_value(item.text, field=field, account=self.account, now=self.now)


# Field compilers ----------------------------------------------------------------------------


def _ref(kind: str, column: str) -> Callable[[_Compiler, str, list[Value | Function]], Q]:
    def match(compiler: _Compiler, field: str, values: list[Value | Function]) -> Q:
        pks = compiler.resolve(kind, field, values)
        return MATCH_NONE if pks is None else Q(**{f"{column}__in": pks})

    return match


# Kind → (its rows in the site's metadata cache, the columns a JQL value may name a row by).
ALIAS_SOURCES: dict[str, tuple[Callable[[metacache.SiteMeta], Iterable[Any]], tuple[str, ...]]] = {
    "project": (lambda meta: meta.projects.values(), ("project_id", "key", "name")),
    "issuetype": (lambda meta: meta.issue_types, ("type_id", "name")),
    "status": (lambda meta: meta.statuses, ("status_id", "name")),
    "priority": (lambda meta: meta.priorities, ("priority_id", "name")),
}


def _category(compiler: _Compiler, field: str, values: list[Value | Function]) -> Q:
    keys = set()
    for value in values:
        if isinstance(value, Function):
            raise JqlError(f"Unable to find JQL function '{value.name}()'.")
        key = CATEGORY_ALIASES.get(value.text.strip().lower())
        if key is None:
            return compiler.missing(f"The value '{value.text}' does not exist for the field '{field}'.")
        keys.add(key)
    return Q(status__category__in=keys)


def _user(column: str) -> Callable[[_Compiler, str, list[Value | Function]], Q]:
    def match(compiler: _Compiler, field: str, values: list[Value | Function]) -> Q:
        pks: set[int] = set()
        ids: list[str] = []
        for value in values:
            if isinstance(value, Function):
                if value.name.lower() != "currentuser":
                    raise JqlError(f"Unable to find JQL function '{value.name}()'.")
                # Anonymous: currentUser() is nobody, so it matches nothing.
                if compiler.account is not None:
                    pks.add(compiler.account.pk)
            else:
                ids.append(value.text.strip())
        if ids:
            known = dict(Account.objects.filter(account_id__in=ids).values_list("account_id", "pk"))
            unknown = next((i for i in ids if i not in known), None)
            if unknown is not None:
                return compiler.missing(f"The value '{unknown}' does not exist for the field '{field}'.")
            pks.update(known.values())
        return Q(**{f"{column}__in": pks})

    return match


def _labels(compiler: _Compiler, field: str, values: list[Value | Function]) -> Q:
    names = []
    for value in values:
        if isinstance(value, Function):
            raise JqlError(f"Unable to find JQL function '{value.name}()'.")
        names.append(value.text)
    return Q(pk__in=IssueLabel.objects.filter(name__in=names).values("issue_id"))


def _issue_ids(compiler: _Compiler, field: str, values: list[Value | Function]) -> Q:
    ids: set[int] = set()
    keys: list[str] = []
    for value in values:
        if isinstance(value, Function):
            raise JqlError(f"Unable to find JQL function '{value.name}()'.")
        text = value.text.strip()
        if text.isdigit():
            ids.add(int(text))
        elif _KEY.match(text):
            keys.append(text.upper())
        else:
            return compiler.missing(f"The issue key '{value.text}' for field '{field}' is invalid.")
    if keys:
        found = set(Issue.objects.filter(site=compiler.site, key__in=keys).values_list("key", flat=True))
        for key in keys:
            if key not in found:
                project_known = Project.objects.filter(site=compiler.site, key=key.rsplit("-", 1)[0]).exists()
                return compiler.missing(
                    f"An issue with key '{key}' does not exist for field '{field}'."
                    if project_known
                    else f"The issue key '{key}' for field '{field}' is invalid."
                )
    return Q(issue_id__in=ids) | Q(key__in=keys)


_LOOKUP = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def _issue_order(compiler: _Compiler, clause: Clause, item: Value | Function) -> Q:
    if isinstance(item, Function):
        raise JqlError(f"Unable to find JQL function '{item.name}()'.")
    text = item.text.strip()
    lookup = _LOOKUP[clause.op]
    if text.isdigit():
        return Q(**{f"issue_id__{lookup}": int(text)})
    match = _KEY.match(text)
    if not match:
        return compiler.missing(f"The issue key '{item.text}' for field '{clause.field}' is invalid.")
    project = Project.objects.filter(site=compiler.site, key=match.group(1).upper()).first()
    if project is None:
        return compiler.missing(f"The issue key '{item.text}' for field '{clause.field}' is invalid.")
    return Q(project=project, **{f"number__{lookup}": int(match.group(2))})


def _date_equal(column: str) -> Callable[[_Compiler, str, list[Value | Function]], Q]:
    def match(compiler: _Compiler, field: str, values: list[Value | Function]) -> Q:
        result = MATCH_NONE
        for value in values:
            start = compiler.instant(value, field)
            result |= Q(**{f"{column}__gte": start, f"{column}__lt": start + timedelta(minutes=1)})
        return result

    return match


def _date_order(column: str) -> Callable[[_Compiler, Clause, Value | Function], Q]:
    # The index keeps minutes: `> T` starts at the next minute, `<= T` ends with T's minute.
    bounds = {">": ("gte", 1), ">=": ("gte", 0), "<": ("lt", 0), "<=": ("lt", 1)}

    def order(compiler: _Compiler, clause: Clause, item: Value | Function) -> Q:
        lookup, minutes = bounds[clause.op]
        cut = compiler.instant(item, clause.field) + timedelta(minutes=minutes)
        return Q(**{f"{column}__{lookup}": cut})

    return order


def _words(column: str) -> Callable[[_Compiler, Clause, str], Q]:
    # Jira's `~` is a word search: every word must appear (wildcards and quotes are ignored here).
    def text(compiler: _Compiler, clause: Clause, value: str) -> Q:
        words = [w for w in re.split(r"\s+", value.replace("*", " ").replace('"', " ")) if w]
        if not words:
            raise JqlError(f"The field '{clause.field}' needs some text to search for.")
        result = MATCH_ALL
        for word in words:
            result &= Q(**{f"{column}__icontains": word})
        return result

    return text


def _json_candidates(text: str) -> list[Any]:
    """A JQL value compared with a JSON value: as text, and as a number or boolean where it reads so."""
    candidates: list[Any] = [text]
    if _NUMBER.match(text):
        candidates.append(float(text) if "." in text else int(text))
    if text.lower() in ("true", "false"):
        candidates.append(text.lower() == "true")
    return candidates


def _json_spec(path: str, name: str, *, with_options: bool) -> FieldSpec:
    """A custom field or entity property holding a simple value (text, number, option)."""

    def match(compiler: _Compiler, field: str, values: list[Value | Function]) -> Q:
        result = MATCH_NONE
        for value in values:
            if isinstance(value, Function):
                raise JqlError(f"Unable to find JQL function '{value.name}()'.")
            for candidate in _json_candidates(value.text):
                result |= Q(**{path: candidate})
            if with_options:  # a select's {"value": ..., "id": ...}
                result |= Q(**{f"{path}__value": value.text}) | Q(**{f"{path}__id": value.text})
        return result

    def text(compiler: _Compiler, clause: Clause, value: str) -> Q:
        return Q(**{f"{path}__icontains": value})

    return FieldSpec(
        name=name,
        ops=EQUALITY | EMPTINESS | TEXT,
        match=match,
        empty=Q(**{f"{path}__isnull": True}),
        text=text,
    )


def _property_spec(key: str, subpath: str | None) -> FieldSpec:
    path = "__".join(["properties", key, *(subpath.split(".") if subpath else [])])
    return _json_spec(path, f"issue.property[{key}]", with_options=False)


_REF_OPS = EQUALITY
_USER_OPS = EQUALITY | EMPTINESS
_PROJECT = FieldSpec("project", _REF_OPS, _ref("project", "project_id"))
_ISSUE_TYPE = FieldSpec("issuetype", _REF_OPS, _ref("issuetype", "issue_type_id"))
_ISSUE_KEY = FieldSpec("issuekey", EQUALITY | ORDERING, _issue_ids, ordering=_issue_order)

FIELDS: dict[str, FieldSpec] = {
    "project": _PROJECT,
    "issuetype": _ISSUE_TYPE,
    "type": _ISSUE_TYPE,
    "status": FieldSpec("status", _REF_OPS, _ref("status", "status_id")),
    "statuscategory": FieldSpec("statusCategory", _REF_OPS, _category),
    "priority": FieldSpec(
        "priority", _USER_OPS, _ref("priority", "priority_id"), empty=Q(priority__isnull=True)
    ),
    "assignee": FieldSpec("assignee", _USER_OPS, _user("assignee_id"), empty=Q(assignee__isnull=True)),
    "reporter": FieldSpec("reporter", _USER_OPS, _user("reporter_id"), empty=Q(reporter__isnull=True)),
    "labels": FieldSpec("labels", _USER_OPS, _labels, empty=~Q(pk__in=IssueLabel.objects.values("issue_id"))),
    "key": _ISSUE_KEY,
    "issuekey": _ISSUE_KEY,
    "issue": _ISSUE_KEY,
    "id": _ISSUE_KEY,
    "summary": FieldSpec("summary", TEXT | EMPTINESS, lambda c, f, v: MATCH_NONE, text=_words("summary")),
    "created": FieldSpec(
        "created", EQUALITY | ORDERING | EMPTINESS, _date_equal("created"), ordering=_date_order("created")
    ),
    "updated": FieldSpec(
        "updated", EQUALITY | ORDERING | EMPTINESS, _date_equal("updated"), ordering=_date_order("updated")
    ),
}

# ORDER BY: JQL field → model columns (ascending). Priority sorts by the scheme's sequence, so
# `priority DESC` puts Highest first, as in Jira.
SORTS: dict[str, tuple[str, ...]] = {
    "key": ("project__key", "number"),
    "issuekey": ("project__key", "number"),
    "issue": ("project__key", "number"),
    "id": ("issue_id",),
    "created": ("created",),
    "updated": ("updated",),
    "priority": ("-priority__sequence",),
    "status": ("status__name",),
    "statuscategory": ("status__category",),
    "summary": ("summary",),
    "project": ("project__name",),
    "issuetype": ("issue_type__name",),
    "type": ("issue_type__name",),
    "assignee": ("assignee__display_name",),
    "reporter": ("reporter__display_name",),
}


def _order_by(query: Query) -> list[str]:
    """Django order_by terms for the ORDER BY clause; issue id (descending) settles ties."""
    terms: list[str] = []
    for sort in query.order:
        columns = SORTS.get(sort.field.lower())
        if columns is None:
            if sort.field.lower() in FIELDS:
                raise JqlError(f"Field '{sort.field}' does not support sorting.")
            raise JqlError(f"Not able to sort using field '{sort.field}'.")
        for column in columns:
            flip = bool(sort.descending)
            ascending = not column.startswith("-")
            name = column.lstrip("-")
            terms.append(name if ascending != flip else f"-{name}")
    if not any(t.lstrip("-") == "issue_id" for t in terms):
        terms.append("-issue_id")
    return terms


def issue_filter(
    site: Site, text: str, *, account: Account | None = None, strict: bool = True
) -> tuple[Q, list[str]]:
    """Compile a query for `Issue.objects.filter(site=site).filter(q).order_by(*order)`.

    `account` is the searching account (time zone of date literals, `currentUser()`). `strict=False`
    turns values that do not exist into clauses that never match (webhook filters), instead of
    Jira's 400. Raises JqlError.
    """
    query = parse(text)
    compiler = _Compiler(site, account, strict=strict)
    q = compiler.node(query.where) if query.where is not None else MATCH_ALL
    return q, _order_by(query)


def matches(issue: Issue, text: str) -> bool:
    """Whether the issue satisfies a webhook's JQL filter (an empty filter matches everything)."""
    if not (text or "").strip():
        return True
    q, _ = issue_filter(issue.site, text, strict=False)
    return Issue.objects.filter(pk=issue.pk).filter(q).exists()


# ---------------------------------------------------------------------------------------------
# The dynamic-webhook subset (API-NOTES §2.1)
# ---------------------------------------------------------------------------------------------

WEBHOOK_FIELDS = {
    "issuekey",
    "key",
    "issue",
    "id",
    "project",
    "issuetype",
    "type",
    "status",
    "assignee",
    "reporter",
}
WEBHOOK_OPERATORS = {"=", "!=", "in", "not in"}


def _webhook_field_ok(name: str) -> bool:
    return name.lower() in WEBHOOK_FIELDS or bool(_CUSTOM.match(name) or _PROPERTY.match(name))


def webhook_filter_errors(text: str) -> list[str]:
    """What Jira says about a dynamic webhook's jqlFilter: fields issueKey, project, issuetype,
    status, assignee, reporter, issue.property and cf[id]; operators =, !=, IN and NOT IN."""
    try:
        query = parse(text)
    except JqlError as exc:
        return [exc.message]
    errors: list[str] = []
    for clause in clauses(query.where):
        if not _webhook_field_ok(clause.field):
            errors.append(f"The clause {clause.field} is unsupported")
        elif clause.op not in WEBHOOK_OPERATORS:
            errors.append(f"The operator {_display(clause.op)} is unsupported")
    if query.order:
        errors.append("The ORDER BY clause is unsupported")
    if query.where is None:
        errors.append("The JQL filter must contain at least one clause")
    return list(dict.fromkeys(errors))

"""What a list asks beyond its page: filters on any payload field, a text search, an order,
the fields to answer. Read from the query string here, checked before any database is asked;
each dialect turns them into binds of its own (app/adapters/db/matching.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import msgspec

from app.errors import FieldProblem, ValidationFailed

# A top-level payload field: it reaches SQL only as a bind value (a JSON path, a key), never as
# SQL text, and the pattern keeps every dialect's path syntax out of reach all the same.
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
PAYLOAD_PARAM = re.compile(r"^payload\.(.*?)(?:__(in|gt|lt|exists))?$")
_NUMBER = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")
MAX_FILTERS = 16
MAX_IN_VALUES = 100
MAX_SEARCH_LENGTH = 500
MAX_TERMS = 16
RECORD_FIELDS = ("id", "user_id", "payload", "created_at", "updated_at", "version")

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class PayloadFilter:
    """One `payload.<field>[__op]=<value>`: eq and in match any of `values` (JSON type and value
    alike); gt and lt compare one number or ISO 8601 text; exists holds whether the field is there."""

    field: str
    op: str  # eq, in, gt, lt, exists
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Sort:
    """The order of a page: by a payload field, by relevance to the search, or by created_at;
    ties (and the default) newest first."""

    field: str | None = None
    descending: bool = True
    relevance: bool = False

    @property
    def oldest_first(self) -> bool:
        return self.field is None and not self.relevance and not self.descending

    def __str__(self) -> str:
        if self.relevance:
            return "relevance"
        name = "created_at" if self.field is None else f"payload.{self.field}"
        return f"-{name}" if self.descending else name


NEWEST = Sort()


def _problem(parameter: str, message: str) -> ValidationFailed:
    return ValidationFailed("a query parameter is not valid", errors=[FieldProblem(parameter, message)])


def scalar(text: str) -> Scalar:
    """A filter's value as the JSON it reads as: true, false, null, a number, a "quoted" string;
    anything else is the text itself."""
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _NUMBER.match(text):
        number = float(text)
        return int(text) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return str(msgspec.json.decode(text))
        except msgspec.DecodeError:
            pass
    return text


def _ordered(parameter: str, text: str) -> Scalar:
    value = scalar(text)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise _problem(parameter, "compares a number or an ISO 8601 timestamp")


def payload_filter(parameter: str, text: str) -> PayloadFilter:
    """The filter a `payload.<field>[__op]` parameter names, or 422 naming the parameter."""
    match = PAYLOAD_PARAM.match(parameter)
    field = match.group(1) if match else ""
    if not FIELD.match(field):
        raise _problem(
            parameter,
            "names a payload field of letters, digits and _ (at most 64, not starting with a "
            "digit), then optionally __in, __gt, __lt or __exists",
        )
    op = (match.group(2) if match else None) or "eq"
    if op == "exists":
        if text not in ("true", "false"):
            raise _problem(parameter, "is true or false")
        return PayloadFilter(field, op, (text == "true",))
    if op in ("gt", "lt"):
        return PayloadFilter(field, op, (_ordered(parameter, text),))
    if op == "in":
        parts = text.split(",")
        if len(parts) > MAX_IN_VALUES:
            raise _problem(parameter, f"holds at most {MAX_IN_VALUES} values")
        return PayloadFilter(field, op, tuple(scalar(part) for part in parts))
    return PayloadFilter(field, op, (scalar(text),))


def payload_filters(params: dict[str, str]) -> tuple[PayloadFilter, ...]:
    """Every payload.* parameter of the query as a filter (they all apply: AND)."""
    found = tuple(payload_filter(name, value) for name, value in params.items())
    if len(found) > MAX_FILTERS:
        raise _problem("payload", f"at most {MAX_FILTERS} payload filters at once")
    return found


_TERM = re.compile(r'"([^"]*)"?|([^\s"]+)')


def search_terms(q: str | None) -> tuple[str, ...]:
    """The words and "quoted phrases" of `q`, each a term that every match holds; none for no q."""
    if q is None:
        return ()
    if len(q) > MAX_SEARCH_LENGTH:
        raise _problem("q", f"at most {MAX_SEARCH_LENGTH} characters")
    terms = tuple(term for phrase, word in _TERM.findall(q) if (term := " ".join((phrase or word).split())))
    if not terms:
        raise _problem("q", "holds no words to search for")
    if len(terms) > MAX_TERMS:
        raise _problem("q", f"at most {MAX_TERMS} words and phrases")
    return terms


def sort_of(text: str | None, *, searched: bool) -> Sort:
    """The `sort` parameter: created_at, -created_at (the default), payload.<field>,
    -payload.<field>, or relevance (with q)."""
    if text is None or text == "-created_at":
        return NEWEST
    if text == "created_at":
        return Sort(descending=False)
    if text == "relevance":
        if not searched:
            raise _problem("sort", "relevance orders a search: give q")
        return Sort(relevance=True)
    descending = text.startswith("-")
    name = text[1:] if descending else text
    if name.startswith("payload.") and FIELD.match(name[len("payload.") :]):
        return Sort(field=name[len("payload.") :], descending=descending)
    raise _problem("sort", "is created_at, -created_at, payload.<field>, -payload.<field> or relevance")


def fields_of(text: str | None) -> tuple[str, ...] | None:
    """The `fields` parameter: the record's fields and payload.<field>s to answer, or None for all."""
    if text is None:
        return None
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",")))
    for name in names:
        if name in RECORD_FIELDS:
            continue
        if name.startswith("payload.") and FIELD.match(name[len("payload.") :]):
            continue
        raise _problem("fields", f"{name!r} is not one of {', '.join(RECORD_FIELDS)} or payload.<field>")
    return names


def payload_params(params: dict[str, str]) -> dict[str, str]:
    """Takes the payload.<field> parameters out of a query's parameters."""
    return {name: params.pop(name) for name in [name for name in params if name.startswith("payload.")]}


@dataclass(frozen=True, slots=True)
class Finding:
    """All a list or an export asks beyond its filters of old: checked, ready for the database."""

    match: tuple[PayloadFilter, ...] = ()
    search: tuple[str, ...] = ()
    sort: Sort = NEWEST
    fields: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls, match: tuple[PayloadFilter, ...], q: str | None, sort: str | None, fields: str | None
    ) -> Finding:
        search = search_terms(q)
        return cls(match, search, sort_of(sort, searched=bool(search)), fields_of(fields))

    def key(self) -> list[object]:
        """What tells two findings' pages apart in the cache."""
        return [
            [[f.field, f.op, list(f.values)] for f in self.match],
            list(self.search),
            str(self.sort),
            self.fields,
        ]


EVERYTHING = Finding()


# payload.<field> parameters in the OpenAPI document: one free-form object whose members are the
# query's parameters (form style, exploded), each name matching the pattern.
PAYLOAD_FILTER_PARAMETER = {
    "name": "payload",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "description": "Filters on any top-level payload field, all of which must hold: "
    "`payload.<field>=<value>` (equal: the value read as JSON when it is true, false, null, a number "
    'or a "quoted string", else as text), `payload.<field>__in=a,b` (any of them), '
    "`payload.<field>__gt=` / `__lt=` (a number or an ISO 8601 timestamp, compared as text), "
    f"`payload.<field>__exists=true|false`. At most {MAX_FILTERS}; a field is letters, digits and _",
    "schema": {
        "type": "object",
        "patternProperties": {
            r"^payload\.[A-Za-z_][A-Za-z0-9_]{0,63}(__(in|gt|lt|exists))?$": {"type": "string"}
        },
        "additionalProperties": False,
    },
    "examples": {"paid orders over 10": {"value": {"payload.paid": "true", "payload.total__gt": "10"}}},
}

"""Metadata filters: `where={"year": 2020, "lang": {"$in": ["en", "de"]}, "pages": {"$gte": 10}}`.

The specification (docs/filters.md says the same for users); `matches` is its reference, and
each backend turns a filter into its own query (storage/sqlite.py: SQL; backends/milvus.py: a
Milvus expression), tested against `matches` on random metadata and filters:

- A filter maps field names to a condition; a document matches when every condition holds.
  A condition is a value (equality) or a dict of operators, all of which must hold: `$eq`,
  `$gt`, `$gte`, `$lt`, `$lte` take a string, a number or a boolean; `$in` a non-empty list of
  them (any may match).
- Values are compared like with like: text with text (by Unicode code point, so case and
  accents count), numbers with numbers (integers and floats by value). `true` and `false` are
  the numbers 1 and 0, as in Python, SQLite and Milvus alike. Text never equals a number:
  "1965" does not match 1965.
- A document whose field is missing, null, a list or an object matches no condition on it: a
  list is not searched inside, nor compared as its JSON text.
- A field name is any text but a blank one, without NUL; names and values must be valid
  Unicode (no lone surrogates); numbers must be finite and integers fit in 64 bits.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import VecsearchError

Where = dict[str, Any]
_COMPARISONS = ("$eq", "$gt", "$gte", "$lt", "$lte")
_SCALARS = (str, int, float, bool)
_INT64 = -(1 << 63)
# What `--where` and the HTTP API's `where` take: a field name (not starting with a space or an
# operator), then =, >= or <=, then the value.
CLI_PATTERN = r"^ *[^ =<>][^=<>]*[<>]?=.*$"


def normalise(where: Where | None) -> list[tuple[str, str, Any]]:
    """The filter as (field, operator, operand) triples, checked; [] for no filter. `$in`'s
    operand is a list, the others' a string, number or boolean."""
    if where is None:
        return []
    if not isinstance(where, dict):
        raise VecsearchError(f"where must be a dict of field: value, not {type(where).__name__}")
    conditions = []
    for name, condition in where.items():
        _check_name(name)
        operators = condition if isinstance(condition, dict) else {"$eq": condition}
        if not operators:
            raise VecsearchError(f"where: no condition for {name!r}")
        for operator, operand in operators.items():
            if operator == "$in":
                if not isinstance(operand, (list, tuple)) or not operand or not all(isinstance(v, _SCALARS) for v in operand):
                    raise VecsearchError(f"where: {name!r}: $in takes a non-empty list of strings or numbers")
                operand = list(operand)
            elif operator in _COMPARISONS:
                if not isinstance(operand, _SCALARS):
                    raise VecsearchError(f"where: {name!r}: {operator} takes a string or a number, not {operand!r:.40}")
            else:
                known = ", ".join(["$in", *_COMPARISONS])
                raise VecsearchError(f"where: {name!r}: unknown operator {operator!r} (known: {known})")
            for value in operand if operator == "$in" else [operand]:
                _check_value(name, value)
            conditions.append((name, operator, operand))
    return conditions


def by_field(where: Where | None) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The checked filter as (field, [(operator, operand), ...]), one entry per field."""
    fields: dict[str, list[tuple[str, Any]]] = {}
    for name, operator, operand in normalise(where):
        fields.setdefault(name, []).append((operator, operand))
    return list(fields.items())


def key(where: Where | None) -> str:
    """A canonical text of the filter (for caching what it selects)."""
    return json.dumps(normalise(where), sort_keys=True)


def kind(value) -> str | None:
    """What a value is compared as: "text", "number" (booleans are the numbers 1 and 0), or
    None for what no condition matches (null, a list, an object)."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)):  # bool is an int
        return "number"
    return None


def matches(metadata: dict | None, where: Where | None) -> bool:
    """Whether a document's metadata satisfies the filter: the reference every backend agrees with."""
    for name, operator, operand in normalise(where):
        value = (metadata or {}).get(name)
        value_kind = kind(value)
        if value_kind is None:
            return False
        if operator == "$in":
            if not any(kind(option) == value_kind and value == option for option in operand):
                return False
        elif kind(operand) != value_kind or not _compare(value, operator, operand):
            return False
    return True


def _compare(value, operator: str, operand) -> bool:
    if operator == "$eq":
        return value == operand
    if operator == "$gt":
        return value > operand
    if operator == "$gte":
        return value >= operand
    if operator == "$lt":
        return value < operand
    return value <= operand


def _check_name(name) -> None:
    if not isinstance(name, str) or not name.strip(" "):
        raise VecsearchError(f"where: bad field name {name!r} (a field name is non-blank text)")
    if "\0" in name:
        raise VecsearchError(f"where: field name {name!r} is invalid: it holds a NUL character")
    _check_unicode(name, f"where: field name {name!r}")


def _check_value(name: str, value) -> None:
    if isinstance(value, str):
        _check_unicode(value, f"where: {name!r}: {value!r:.60}")
    elif not _representable(value):
        raise VecsearchError(f"where: {name!r}: {value!r} is out of range")


def _check_unicode(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate: no backend can store or compare it
        raise VecsearchError(f"{what} is not valid Unicode (it holds a lone surrogate, "
                             f"U+{ord(text[error.start]):04X})") from None


def parse_cli(expressions: tuple[str, ...] | list[str]) -> Where | None:
    """`--where` options (`field=value`, `field>=value`, `field<=value`, `field=a,b` for any of
    several) as a filter; a value that reads as JSON (2020, true, "a b") is taken as such."""
    where: Where = {}
    for expression in expressions:
        equals = expression.find("=")
        name = expression[:equals].strip(" ")
        operator = {">": "$gte", "<": "$lte"}.get(name[-1:]) if equals > 0 else None
        name = name[:-1].strip(" ") if operator else name
        if equals < 0 or not name:
            raise VecsearchError(f"--where '{expression}': expected field=value, field>=value or field<=value")
        text = expression[equals + 1 :]
        if operator is None:
            values = [_value(part) for part in text.split(",")] if "," in text else None
            condition = {"$in": values} if values else _value(text)
        else:
            condition = {operator: _value(text)}
        previous = where.get(name)
        if isinstance(previous, dict) and isinstance(condition, dict):
            previous.update(condition)  # field>=a and field<=b: a range
        else:
            where[name] = condition
    normalise(where)
    return where or None


def _value(text: str):
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, _SCALARS) and _representable(value) else text


def _representable(value) -> bool:
    """Whether SQLite and Milvus can compare with it: a finite float, a 64-bit integer, a string."""
    if isinstance(value, float):
        return math.isfinite(value)
    return not isinstance(value, int) or isinstance(value, bool) or _INT64 <= value < -_INT64

"""Metadata filters: `where={"year": 2020, "lang": {"$in": ["en", "de"]}, "pages": {"$gte": 10}}`.

A filter maps field names to a value (equality) or to operators: `$eq`, `$in` (a list),
`$gt`, `$gte`, `$lt`, `$lte` (numbers or strings; like is compared with like). Fields are
ANDed; a document without the field does not match. The same filter is turned into SQL for
the SQLite store, into a Milvus expression, or checked in Python, so every backend and
mode keeps the same documents.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import VecsearchError

Where = dict[str, Any]
_COMPARISONS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_SCALARS = (str, int, float, bool)
_INT64 = -(1 << 63)
# What `--where` and the HTTP API's `where` take: a field name (not starting with a space or an
# operator), then =, >= or <=, then the value.
CLI_PATTERN = r'^ *[^ =<>"][^=<>"]*[<>]?=.*$'


def normalise(where: Where | None) -> list[tuple[str, str, Any]]:
    """The filter as (field, operator, operand) triples, checked; [] for no filter."""
    if where is None:
        return []
    if not isinstance(where, dict):
        raise VecsearchError(f"where must be a dict of field: value, not {type(where).__name__}")
    conditions = []
    for name, condition in where.items():
        if not isinstance(name, str) or not name.strip(" ") or '"' in name:
            raise VecsearchError(f"where: bad field name {name!r}")
        operators = condition if isinstance(condition, dict) else {"$eq": condition}
        if not operators:
            raise VecsearchError(f"where: no condition for '{name}'")
        for operator, operand in operators.items():
            if operator == "$in":
                if not isinstance(operand, (list, tuple)) or not operand or not all(isinstance(v, _SCALARS) for v in operand):
                    raise VecsearchError(f"where: '{name}': $in takes a non-empty list of strings or numbers")
                operand = list(operand)
            elif operator in _COMPARISONS:
                if not isinstance(operand, _SCALARS):
                    raise VecsearchError(f"where: '{name}': {operator} takes a string or a number, not {operand!r:.40}")
                operand = [operand]
            else:
                known = ", ".join(["$in", *_COMPARISONS])
                raise VecsearchError(f"where: '{name}': unknown operator {operator!r} (known: {known})")
            for value in operand:
                if not _representable(value):
                    raise VecsearchError(f"where: '{name}': {value!r} is out of range")
            operand = operand if operator == "$in" else operand[0]
            conditions.append((name, operator, operand))
    return conditions


def key(where: Where | None) -> str:
    """A canonical text of the filter (for caching what it selects)."""
    return json.dumps(normalise(where), sort_keys=True)


def to_sql(where: Where, column: str) -> tuple[str, list]:
    """A WHERE clause over a JSON text column, with its parameters."""
    clauses, parameters = [], []
    for name, operator, operand in normalise(where):
        path = f'$."{name}"'
        if operator == "$in":
            clauses.append(f"json_extract({column}, ?) IN ({','.join('?' * len(operand))})")
            parameters += [path, *operand]
        else:
            clauses.append(f"json_extract({column}, ?) {_COMPARISONS[operator]} ?")
            parameters += [path, operand]
    return " AND ".join(clauses) or "1", parameters


def to_milvus(where: Where, field: str) -> str:
    """A Milvus boolean expression over a JSON field."""
    clauses = []
    for name, operator, operand in normalise(where):
        target = f"{field}[{json.dumps(name)}]"
        if operator == "$in":  # Milvus Lite takes `in` on scalar fields only
            clauses.append("(" + " or ".join(f"{target} == {json.dumps(value)}" for value in operand) + ")")
        else:
            symbol = "==" if operator == "$eq" else _COMPARISONS[operator]
            clauses.append(f"{target} {symbol} {json.dumps(operand)}")
    return " and ".join(clauses)


def matches(metadata: dict | None, where: Where | None) -> bool:
    """Whether a document's metadata satisfies the filter (the reference the stores agree with)."""
    for name, operator, operand in normalise(where):
        if not metadata or name not in metadata or metadata[name] is None:
            return False
        value = metadata[name]
        if operator == "$in":
            if value not in operand:
                return False
            continue
        if isinstance(value, str) != isinstance(operand, str) or not isinstance(value, _SCALARS):
            return False
        if not {"$eq": value == operand, "$gt": value > operand, "$gte": value >= operand,
                "$lt": value < operand, "$lte": value <= operand}[operator]:
            return False
    return True


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

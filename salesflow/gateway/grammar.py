"""The offline model's output grammar: a prompt's JSON Schema, bounded so every answer closes in time.

llama.cpp's server turns the JSON Schema of a request's `response_format` into a grammar and
samples only tokens the grammar allows. Unbounded strings and lists let SmolLM2 write until
`max_tokens` cuts the JSON mid-object ("the answer is not JSON"), so the offline model gets a
bounded copy of the schema, and `max_tokens` no smaller than the longest answer that copy allows:

- every free-text string is at most `MAX_CHARS` characters from a class without quotes,
  backslashes or control characters (a raw newline inside a string is not JSON; an escape such as
  \\u00e4 would cost six bytes for one character), and without code points above U+07FF, so a
  character is at most two bytes of UTF-8;
- every list holds at most `MAX_ITEMS` items; numbers with bounds become a few values inside them
  (the grammar has no numeric ranges);
- whitespace between tokens is one optional space (llama-cpp-python's converter), so the answer's
  length in bytes has an upper bound, and a token is at least one byte: `token_bound` is then an
  upper bound of the answer's length in tokens.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

MAX_CHARS = 100
MAX_ITEMS = 2
# printable ASCII but '"' and '\', then U+00A0-U+07FF (Latin with accents, Greek, Cyrillic, ...): at
# most two bytes each in UTF-8. The same text is a regex (Python's, JSON Schema's) and a GBNF class.
_CHAR_CLASS = r"[\x20\x21\x23-\x5B\x5D-\x7E\u00A0-\u07FF]"
_BYTES_PER_CHAR = 2
# what llama-cpp-python's converter allows for an unbounded number or integer (15 digits per part)
_NUMBER_BYTES = 1 + 16 + 1 + 16 + 2 + 16
_INTEGER_BYTES = 1 + 16


def _numbers_within(low: float | None, high: float | None, *, integer: bool) -> list[float]:
    if low is not None and high is not None and not integer:
        return [round(low + (high - low) * i / 10, 6) for i in range(11)]
    start = int(math.ceil(low)) if low is not None else int(math.floor(high or 0)) - 30
    stop = int(math.floor(high)) if high is not None else start + 30
    return list(range(start, min(stop, start + 30) + 1))


def bounded_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with every string and array given an upper bound, for the offline model's grammar.

    Every answer valid against the result is valid against `schema` (bounds only shrink the set);
    existing smaller bounds are kept. Keywords llama.cpp's converter does not know are dropped there.
    """
    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        kind = out.get("type")
        if kind == "string" and "enum" not in out and "const" not in out and "pattern" not in out:
            high = min(int(out.get("maxLength", MAX_CHARS)), MAX_CHARS)
            low = min(int(out.get("minLength", 0)), high)
            out.update(maxLength=high, minLength=low, pattern=f"^{_CHAR_CLASS}{{{low},{high}}}$")
        elif kind == "array":
            low = int(out.get("minItems", 0))
            out["maxItems"] = max(low, min(int(out.get("maxItems", MAX_ITEMS)), MAX_ITEMS))
        elif kind in ("number", "integer") and "enum" not in out and ("minimum" in out or "maximum" in out):
            out["enum"] = _numbers_within(out.get("minimum"), out.get("maximum"), integer=kind == "integer")
        return out

    bounded = walk(copy.deepcopy(dict(schema)))
    bounded.pop("$schema", None)
    return bounded


def _literal_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def byte_bound(schema: Mapping[str, Any]) -> int | None:
    """The longest answer, in bytes, that the grammar of a `bounded_schema` result allows.

    None where the converter's output has no bound this function can prove (an unbounded string,
    additional properties, combinators): the caller then keeps its own limit.
    """
    space = 1  # " "? after every token group
    if "const" in schema:
        return _literal_bytes(schema["const"]) + space
    if "enum" in schema:
        return max(_literal_bytes(v) for v in schema["enum"]) + space
    if any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref", "prefixItems")):
        return None
    kind = schema.get("type")
    if kind == "string":
        if "pattern" not in schema or "maxLength" not in schema:
            return None
        return 2 + _BYTES_PER_CHAR * int(schema["maxLength"]) + space
    if kind == "array":
        if "maxItems" not in schema or not isinstance(schema.get("items"), Mapping):
            return None
        item = byte_bound(schema["items"])
        if item is None:
            return None
        n = int(schema["maxItems"])
        return 1 + space + n * item + max(0, n - 1) * (1 + space) + 1 + space
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping) or schema.get("additionalProperties", True) is not False:
            return None
        total = 1 + space + 1 + space
        for key, value in properties.items():
            inner = byte_bound(value)
            if inner is None:
                return None
            total += _literal_bytes(key) + space + 1 + space + inner + 1 + space
        return total
    return {"integer": _INTEGER_BYTES + space, "number": _NUMBER_BYTES + space, "boolean": 5 + space,
            "null": 4 + space}.get(kind) if isinstance(kind, str) else None


def token_bound(schema: Mapping[str, Any]) -> int | None:
    """An upper bound of the answer's length in tokens (a token is at least one byte), end token included."""
    bound = byte_bound(bounded_schema(schema))
    return None if bound is None else bound + 1

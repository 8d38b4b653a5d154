"""Structured answers: find the JSON object in a model's reply and check it against the prompt's schema."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonschema

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def parse_json_answer(text: str, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(data, None) when `text` holds one JSON value valid against `schema`, else (None, what is wrong).

    Code fences and prose around a single object are tolerated (models add them despite being told
    not to); what is inside must validate exactly.
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            return None, "the answer is not JSON"
        try:
            data = json.loads(body[start:end + 1])
        except json.JSONDecodeError as exc:
            return None, f"the answer is not valid JSON ({exc.msg} at character {exc.pos})"
    error = jsonschema.exceptions.best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        return None, f"at {where}: {error.message[:200]}"
    return data, None

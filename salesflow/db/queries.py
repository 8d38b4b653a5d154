"""Named queries read from queries.sql (`-- name: x` headers), so SQL stays in .sql files."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file on its `-- name: x` headers."""
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def _load() -> dict[str, str]:
    return parse_queries(resources.files("salesflow.db").joinpath("queries.sql").read_text())


def query(name: str) -> str:
    """The text of the named query; KeyError names the missing one."""
    try:
        return _load()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in salesflow/db/queries.sql") from None

"""The channels' named queries (queries.sql)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from salesflow.db.queries import parse_queries


@cache
def _load() -> dict[str, str]:
    return parse_queries(resources.files("salesflow.channels").joinpath("queries.sql").read_text())


def query(name: str) -> str:
    try:
        return _load()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in salesflow/channels/queries.sql") from None

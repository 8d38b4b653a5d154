"""The one named-query registry: every `.sql` file of the query packages, split on `-- name: x` headers.

SQL the Python code runs lives in `.sql` files beside the modules that run it (procrastinate's
`queries.sql`). Every `*.sql` file directly inside a package of `QUERY_PACKAGES` is read the same
way and all names share one namespace, so a name defined twice, in one file or in two, is an error
when the registry loads, naming both places. `query(name)` is the only way code reads a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

# packages whose `*.sql` files hold named queries (sql/ holds the schema, not queries)
QUERY_PACKAGES = (
    "salesflow.db", "salesflow.gateway", "salesflow.assistant", "salesflow.channels", "salesflow.api",
    "salesflow.functions",
)

_HEADER = re.compile(r"^-- name: (\S+)[ \t]*$", re.MULTILINE)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class QueryRegistryError(Exception):
    """A query file is malformed or two queries share a name; the message says where."""


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    source: str  # package-relative file, e.g. salesflow.functions/queries.sql


def parse_queries(text: str, source: str = "<text>") -> list[Query]:
    """Split one file's text on its `-- name: x` headers, in file order; text before the first header is a preamble."""
    parts = _HEADER.split(text)
    out: list[Query] = []
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if not _NAME.match(name):
            raise QueryRegistryError(f"{source}: query name {name!r} must be lower-case letters, digits and _")
        if not body.strip():
            raise QueryRegistryError(f"{source}: query {name!r} has no SQL")
        out.append(Query(name, body.strip(), source))
    return out


def build_registry(files: Iterable[tuple[str, str]]) -> Mapping[str, Query]:
    """Queries by name from (source, text) pairs; a name defined twice raises QueryRegistryError."""
    registry: dict[str, Query] = {}
    for source, text in files:
        for q in parse_queries(text, source):
            if q.name in registry:
                raise QueryRegistryError(
                    f"query {q.name!r} is defined twice: in {registry[q.name].source} and in {q.source}")
            registry[q.name] = q
    return MappingProxyType(registry)


def _package_files(packages: Iterable[str]) -> Iterable[tuple[str, str]]:
    for package in packages:
        for entry in sorted(resources.files(package).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql") and entry.is_file():
                yield f"{package}/{entry.name}", entry.read_text(encoding="utf-8")


@cache
def registry() -> Mapping[str, Query]:
    """Every named query of QUERY_PACKAGES, loaded once per process."""
    return build_registry(_package_files(QUERY_PACKAGES))


def query(name: str) -> str:
    """The text of the named query; KeyError names the missing one."""
    try:
        return registry()[name].sql
    except KeyError:
        raise KeyError(f"no query named {name!r} in the .sql files of {', '.join(QUERY_PACKAGES)}") from None

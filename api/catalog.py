"""The exposed functions, read from pg_catalog (PostgREST's "schema cache" for RPCs)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from salesflow.db.queries import query

EXPOSED_SCHEMA = "api"


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[Param, ...]
    returns_set: bool
    returns_void: bool
    return_type: str
    read_only: bool
    description: str | None

    def accepts(self, keys: set[str]) -> bool:
        names = {p.name for p in self.params}
        return keys <= names and all(p.name in keys for p in self.params if p.required)

    def signature(self) -> str:
        return f"{EXPOSED_SCHEMA}.{self.name}({', '.join(p.name for p in self.params)})"


def _function(row: dict[str, Any]) -> Function:
    names, modes, in_types = row["arg_names"], row["arg_modes"], row["in_types"]
    # proargnames covers every argument, proargtypes only the inputs (modes i, b = inout, v = variadic)
    in_names = [n for i, n in enumerate(names) if not modes or modes[i] in ("i", "b", "v")] if names else []
    if len(in_names) < len(in_types):
        in_names += [""] * (len(in_types) - len(in_names))
    n_required = len(in_types) - row["n_defaults"]
    params = tuple(Param(n, t, i < n_required) for i, (n, t) in enumerate(zip(in_names, in_types, strict=True)))
    return Function(
        name=row["name"], params=params, returns_set=row["returns_set"], returns_void=row["returns_void"],
        return_type=row["return_type"], read_only=row["volatility"] in ("s", "i"),
        description=row["description"],
    )


class Catalog:
    """Functions by name; reloaded when a call names one it does not know (at most once a second)."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[Function]] = {}
        self._loaded_at = 0.0
        self.version: object = object()
        # for the OpenAPI document: enum labels and row-type columns by format_type name
        self.enums: dict[str, list[str]] = {}
        self.row_types: dict[str, list[dict[str, Any]]] = {}

    async def load(self, conn: AsyncConnection) -> None:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("rpc_catalog"), {"schema": EXPOSED_SCHEMA})
            rows = await cur.fetchall()
            await cur.execute(query("openapi_enums"))
            enums = {r["name"]: r["labels"] for r in await cur.fetchall()}
            await cur.execute(query("openapi_row_types"))
            row_types: dict[str, list[dict[str, Any]]] = {}
            for r in await cur.fetchall():
                row_types.setdefault(r["type_name"], []).append(r)
        by_name: dict[str, list[Function]] = {}
        for row in rows:
            fn = _function(row)
            # unnamed parameters cannot be called by name from JSON; PostgREST skips them too
            if all(p.name for p in fn.params):
                by_name.setdefault(fn.name, []).append(fn)
        self._by_name, self.enums, self.row_types = by_name, enums, row_types
        self.version = object()  # a new identity per load: resolutions cached against the old one are stale
        self._loaded_at = time.monotonic()

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at > 1.0

    def candidates(self, name: str) -> list[Function]:
        return self._by_name.get(name, [])

    def all(self) -> list[Function]:
        return [fn for fns in self._by_name.values() for fn in fns]

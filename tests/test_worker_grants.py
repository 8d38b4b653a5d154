"""The worker's privileges (issue 9, section 4; 97_roles.sql): every table and function a job's SQL
reaches is granted to `salesflow_worker`, or the job fails only in a real worker process.

Read from the code and the catalog, not from a list kept beside it: the named queries the worker's
modules run (functions/, the gateway and the channels it calls), each table they read or write
(with the privilege the statement needs) and each function they call, followed into the bodies of
the security-invoker SQL and PL/pgSQL functions they call and the triggers of the tables they write
(a security definer function runs as its owner, so the walk stops there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from salesflow.db.queries import query

ROOT = Path(__file__).resolve().parents[1]
WORKER = "salesflow_worker"
# where the worker process's SQL comes from: its own package, and the libraries its handlers call
WORKER_CODE = ("functions", "salesflow/gateway", "salesflow/channels")
# modules there whose SQL another process runs: the operator's `salesflow jobs` commands (the
# owner's connection) and the assistant's writing service (the API, as the calling member)
NOT_THE_WORKER = ("functions/cli.py", "salesflow/gateway/writing.py")
SCHEMAS = ("salesflow", "api", "analytics")

_QUERY_NAME = re.compile(r"""\bquery\(\s*["']([a-z][a-z0-9_]*)["']""")
_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")
_REF = re.compile(r"\b(salesflow|api|analytics)\.([a-z_][a-z0-9_]*)\b(\s*\()?")
_WRITE = {
    "INSERT": re.compile(r"\binsert\s+into\s+(?:(salesflow|api|analytics)\.)([a-z_][a-z0-9_]*)", re.I),
    "UPDATE": re.compile(r"\bupdate\s+(?:only\s+)?(?:(salesflow|api|analytics)\.)([a-z_][a-z0-9_]*)", re.I),
    "DELETE": re.compile(r"\bdelete\s+from\s+(?:only\s+)?(?:(salesflow|api|analytics)\.)([a-z_][a-z0-9_]*)", re.I),
    "TRUNCATE": re.compile(r"\btruncate\s+(?:table\s+)?(?:(salesflow|api|analytics)\.)([a-z_][a-z0-9_]*)", re.I),
}


def worker_queries() -> dict[str, str]:
    """Named queries the worker's modules run, by name."""
    names: set[str] = set()
    for folder in WORKER_CODE:
        for path in (ROOT / folder).rglob("*.py"):
            if path.relative_to(ROOT).as_posix() in NOT_THE_WORKER:
                continue
            names |= set(_QUERY_NAME.findall(path.read_text()))
    return {name: query(name) for name in sorted(names)}


_DECLARE = re.compile(r"^\s*declare\b.*?\bbegin\b", re.I | re.S)
_ROW_VARIABLE = re.compile(r"\b[a-z_][a-z0-9_]*\s+(?:salesflow|api|analytics)\.[a-z_][a-z0-9_]*(?:\[\])?\s*;", re.I)


def strip(sql: str) -> str:
    """SQL without comments, string literals and a PL/pgSQL body's plain row-type declarations (a
    name in any of them is not a use: declaring a variable of a row type needs no privilege)."""
    text = _STRING.sub("''", _COMMENT.sub("", sql))
    return _DECLARE.sub(lambda m: _ROW_VARIABLE.sub(";", m.group(0)), text)


@dataclass(frozen=True)
class Need:
    kind: str  # "table" or "function"
    name: str  # schema.name
    privilege: str
    via: str  # the query, then the functions and triggers the walk went through


class Walk:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.seen: set[str] = set()

    def relation(self, name: str) -> str | None:
        row = self.conn.execute("select c.relkind::text from pg_catalog.pg_class as c where c.oid = "
                                "to_regclass(%s)", (name,)).fetchone()
        return None if row is None else row[0]

    def functions(self, name: str) -> list[tuple[int, bool, str, str]]:
        schema, fn = name.split(".")
        return self.conn.execute("""
            select p.oid::bigint, p.prosecdef, l.lanname::text, p.prosrc
            from pg_catalog.pg_proc as p
            join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
            join pg_catalog.pg_language as l on l.oid = p.prolang
            where n.nspname = %s and p.proname = %s
        """, (schema, fn)).fetchall()

    def triggers(self, table: str) -> list[tuple[str, str]]:
        return self.conn.execute("""
            select p.oid::regprocedure::text, p.prosrc from pg_catalog.pg_trigger as t
            join pg_catalog.pg_proc as p on p.oid = t.tgfoid
            where t.tgrelid = to_regclass(%s) and not t.tgisinternal and not p.prosecdef
        """, (table,)).fetchall()

    def needs(self, sql: str, via: str) -> Iterator[Need]:
        text = strip(sql)
        written: dict[str, set[str]] = {}
        for privilege, pattern in _WRITE.items():
            for schema, table in pattern.findall(text):
                written.setdefault(f"{schema}.{table}", set()).add(privilege)
        for schema, name, call in _REF.findall(text):
            full = f"{schema}.{name}"
            if call:
                overloads = self.functions(full)
                if overloads:
                    yield Need("function", full, "EXECUTE", via)
                    for oid, definer, language, source in overloads:
                        key = f"fn:{oid}"
                        if definer or language not in ("sql", "plpgsql") or key in self.seen:
                            continue
                        self.seen.add(key)
                        yield from self.needs(source, f"{via} -> {full}()")
                    continue
            kind = self.relation(full)
            if kind is None:
                continue  # a type, a schema-qualified column, or a function that does not exist
            for privilege in written.get(full, {"SELECT"}):
                yield Need("table", full, privilege, via)
        for table, privileges in written.items():
            if privileges & {"INSERT", "UPDATE", "DELETE"}:
                for trigger, source in self.triggers(table):
                    key = f"trigger:{trigger}"
                    if key not in self.seen:
                        self.seen.add(key)
                        yield from self.needs(source, f"{via} -> trigger {trigger} on {table}")


def lacking(conn: psycopg.Connection, needs: list[Need]) -> list[str]:
    missing = []
    for need in needs:
        if need.kind == "table":
            ok = conn.execute("select has_table_privilege(%s, %s, %s)", (WORKER, need.name, need.privilege)).fetchone()
        else:
            # one overload the worker may execute is enough (which one the call resolves to is the planner's)
            ok = conn.execute("""
                select bool_or(has_function_privilege(%s, p.oid, 'EXECUTE'))
                from pg_catalog.pg_proc as p join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
                where n.nspname || '.' || p.proname = %s
            """, (WORKER, need.name)).fetchone()
        if not (ok and ok[0]):
            missing.append(f"{need.privilege} on {need.name} (via {need.via})")
    return sorted(set(missing))


@pytest.fixture(scope="module")
def queries() -> dict[str, str]:
    found = worker_queries()
    # the registry knows them all (query() raised otherwise) and the walk has something to read
    assert {"claim_job", "finish_job"} & set(found) or len(found) > 20, sorted(found)
    return found


def test_every_table_and_function_the_worker_reaches_is_granted_to_it(db: psycopg.Connection,
                                                                     queries: dict[str, str]) -> None:
    walk = Walk(db)
    needs = [need for name, sql in queries.items() for need in walk.needs(sql, name)]
    assert len({n.name for n in needs}) > 30  # the walk reads real references, not nothing
    assert lacking(db, needs) == []


def test_the_check_fails_for_a_privilege_the_worker_lacks(db: psycopg.Connection, queries: dict[str, str]) -> None:
    """Shown to fail: revoke one grant a handler's query needs, and the check names it and the path."""
    walk = Walk(db)
    needs = [need for name, sql in queries.items() for need in walk.needs(sql, name)]
    table = next(n for n in needs if n.kind == "table" and n.privilege == "INSERT")
    function = next(n for n in needs if n.kind == "function" and " -> " in n.via)
    with db.transaction(force_rollback=True):
        db.execute(f"revoke insert on {table.name} from {WORKER}")
        db.execute(f"revoke execute on all functions in schema {function.name.split('.')[0]} from {WORKER}")
        missing = lacking(db, needs)
    assert any(m.startswith(f"INSERT on {table.name} ") for m in missing), missing
    assert any(m.startswith(f"EXECUTE on {function.name} ") and " -> " in m for m in missing), missing

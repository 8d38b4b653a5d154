"""The Supabase export is append-only: replaying its history on a database that applied the old files
works, and regenerating after a change to sql/ never touches a file already emitted."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from salesflow import supabase_export
from tests.conftest import ROOT, Server

NEW_MIGRATION = """-- a table added after the first release
create table salesflow.export_probes (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    primary key (org_id, id)
);
"""
NEW_OBJECTS = """
create or replace function salesflow.export_probe_count() returns bigint
language sql
stable
security invoker
set search_path = ''
as $$
    select pg_catalog.count(*) from salesflow.export_probes
$$;
"""


@pytest.fixture
def old_database(pg_server: Server) -> Iterator[str]:
    name = f"salesflow_export_{uuid.uuid4().hex[:10]}"
    with DatabaseJanitor(user=pg_server.user, host=pg_server.host, port=pg_server.port, dbname=name,
                         password=pg_server.password):
        yield pg_server.url(name)


def apply(url: str, files: dict[str, str]) -> None:
    """Apply migration files in version order, as `supabase db push` does."""
    with psycopg.connect(url, autocommit=True) as conn:
        for rel in sorted(files, key=lambda r: int(Path(r).name.split("_", 1)[0])):
            conn.execute(files[rel].encode())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.sql"))}


def test_history_replays_and_changes_append_new_files(tmp_path: Path, old_database: str) -> None:
    # the checkout as released: its sql/ and its emitted supabase/ folder
    sql_root, supabase = tmp_path / "sql", tmp_path / "supabase"
    shutil.copytree(ROOT / "sql", sql_root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "supabase", supabase)
    assert supabase_export.stale_files(supabase, sql_root) == []
    released = snapshot(supabase / "migrations")
    apply(old_database, {f"migrations/{n}": t.decode() for n, t in released.items()})

    # a change to sql/objects alone emits a new bundle, after everything released
    objects = sql_root / "objects" / "21_integrity.sql"
    objects.write_text(objects.read_text() + "\n-- a comment is a change too\n")
    added = supabase_export.write(supabase, sql_root)
    assert len(added) == 1 and added[0].endswith("_objects.sql")
    # a new migration and another objects change: the migration, then the bundle again
    migration_names = sorted(p.name for p in (sql_root / "migrations").glob("*.sql"))
    number = int(migration_names[-1][:4]) + 1
    (sql_root / "migrations" / f"{number:04d}_export_probes.sql").write_text(NEW_MIGRATION)
    (sql_root / "objects" / "99_export_probe.sql").write_text(NEW_OBJECTS)
    second = supabase_export.write(supabase, sql_root)
    assert [Path(rel).name.split("_", 1)[1] for rel in second] == ["export_probes.sql", "objects.sql"]

    after = snapshot(supabase / "migrations")
    assert {n: after[n] for n in released} == released, "an emitted file was renamed, edited or deleted"
    new = sorted(set(after) - set(released))
    assert len(new) == 3
    latest_released = max(int(n.split("_", 1)[0]) for n in released)
    assert all(int(n.split("_", 1)[0]) > latest_released for n in new), "a new file sorts before released ones"
    assert supabase_export.stale_files(supabase, sql_root) == []
    assert supabase_export.write(supabase, sql_root) == [], "regenerating again added files"

    # the database that applied the released files takes the new ones, in order
    apply(old_database, {f"migrations/{n}": after[n].decode() for n in new})
    with psycopg.connect(old_database) as conn:
        assert conn.execute("select salesflow.export_probe_count()").fetchone() == (0,)


def test_an_edited_emitted_migration_is_refused_not_rewritten(tmp_path: Path) -> None:
    sql_root, supabase = tmp_path / "sql", tmp_path / "supabase"
    shutil.copytree(ROOT / "sql", sql_root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "supabase", supabase)
    first = sorted((sql_root / "migrations").glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    before = snapshot(supabase / "migrations")
    with pytest.raises(supabase_export.ExportError, match="changed after it was emitted"):
        supabase_export.write(supabase, sql_root)
    assert snapshot(supabase / "migrations") == before

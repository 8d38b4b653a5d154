"""The migration runner: numbered run-once migrations, then the idempotent objects bundle.

`sql/migrations/NNNN_name.sql` run once each, in order, recorded with a checksum; an applied
migration whose text changed is refused. `sql/objects/*.sql` (functions, views, triggers,
policies, grants) are written to be re-applied and are, whenever their combined checksum differs
from the one last applied, so an up-to-date database is left exactly as it is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable

import psycopg

from salesflow.db.queries import query

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The database and sql/ disagree in a way the runner must not paper over."""


@dataclass(frozen=True)
class SqlFile:
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.replace("\r\n", "\n").encode()).hexdigest()


@dataclass(frozen=True)
class Migration(SqlFile):
    version: int = 0


@dataclass
class MigrateReport:
    applied: list[str] = field(default_factory=list)
    objects_applied: bool = False

    def summary(self) -> str:
        if not self.applied and not self.objects_applied:
            return "database is up to date"
        parts = []
        if self.applied:
            parts.append(f"applied {len(self.applied)} migration(s): {', '.join(self.applied)}")
        if self.objects_applied:
            parts.append("re-applied functions, views, policies and grants")
        return "; ".join(parts)


@dataclass(frozen=True)
class MigrationStatus:
    pending: list[str]
    objects_current: bool
    problems: list[str]

    @property
    def current(self) -> bool:
        return not self.pending and self.objects_current and not self.problems


def _sql_root() -> Traversable:
    return resources.files("salesflow.sql")


def load_migrations(root: Traversable | None = None) -> list[Migration]:
    root = root or _sql_root()
    found: list[Migration] = []
    for entry in root.joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = MIGRATION_NAME.match(entry.name)
        if not match:
            raise MigrationError(f"migration file {entry.name} is not named NNNN_snake_case.sql")
        found.append(Migration(name=entry.name, text=entry.read_text(), version=int(match.group(1))))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def load_objects(root: Traversable | None = None) -> list[SqlFile]:
    root = root or _sql_root()
    files = [SqlFile(e.name, e.read_text()) for e in root.joinpath("objects").iterdir() if e.name.endswith(".sql")]
    return sorted(files, key=lambda f: f.name)


def objects_checksum(objects: list[SqlFile]) -> str:
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(obj.name.encode() + b"\0" + obj.checksum.encode() + b"\n")
    return digest.hexdigest()


def _check_applied(applied: dict[int, tuple[str, str]], migrations: list[Migration]) -> list[str]:
    problems = []
    known = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            problems.append(
                f"the database has migration {name}, which this checkout does not know; "
                "update SalesFlow before migrating"
            )
        elif migration.checksum != checksum:
            problems.append(
                f"migration {migration.name} was edited after it was applied "
                f"(recorded {checksum[:12]}, file {migration.checksum[:12]}); "
                "restore the applied text and put the change in a new migration"
            )
    return problems


def _applied(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    return {v: (n, c) for v, n, c in conn.execute(query("applied_migrations")).fetchall()}


def status(conn: psycopg.Connection) -> MigrationStatus:
    """What migrate would do, without doing it."""
    migrations, objects = load_migrations(), load_objects()
    has = conn.execute(query("bookkeeping_exists")).fetchone()
    if not has or not all(has):
        return MigrationStatus([m.name for m in migrations], False, [])
    applied = _applied(conn)
    row = conn.execute(query("current_objects_checksum")).fetchone()
    return MigrationStatus(
        pending=[m.name for m in migrations if m.version not in applied],
        objects_current=row is not None and row[0] == objects_checksum(objects),
        problems=_check_applied(applied, migrations),
    )


def migrate(conn: psycopg.Connection, *, reapply_objects: bool = False) -> MigrateReport:
    """Bring the database up to date in one transaction; raises MigrationError and changes nothing on refusal."""
    migrations, objects = load_migrations(), load_objects()
    report = MigrateReport()
    with conn.transaction():
        conn.execute(query("lock_migrations"))
        conn.execute(query("bootstrap"))
        applied = _applied(conn)
        problems = _check_applied(applied, migrations)
        if problems:
            raise MigrationError(problems[0])
        for migration in migrations:
            if migration.version in applied:
                continue
            _execute_file(conn, migration)
            conn.execute(
                query("record_migration"),
                {"version": migration.version, "name": migration.name, "checksum": migration.checksum},
            )
            report.applied.append(migration.name)
        checksum = objects_checksum(objects)
        row = conn.execute(query("current_objects_checksum")).fetchone()
        if reapply_objects or report.applied or row is None or row[0] != checksum:
            for obj in objects:
                _execute_file(conn, obj)
            conn.execute(query("record_objects"), {"checksum": checksum, "files": len(objects)})
            report.objects_applied = True
    return report


def _execute_file(conn: psycopg.Connection, sql_file: SqlFile) -> None:
    try:
        # no parameters: psycopg sends the file as one simple query, several statements allowed
        conn.execute(sql_file.text.encode())
    except psycopg.Error as exc:
        diag = exc.diag
        where = f" near: {diag.statement_position}" if diag.statement_position else ""
        raise MigrationError(f"{sql_file.name} failed: {diag.message_primary or exc}{where}") from exc

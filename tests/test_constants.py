"""Constants defined once (issue 9 section 6): Python's copies are generated from the catalog and agree with it."""

from __future__ import annotations

import psycopg

from salesflow.db import constants
from salesflow.db.catalog_facts import CONSTANTS, read_facts, render
from salesflow.functions.registry import Handler, RegistryError
from salesflow.functions.worker import WorkerConfig, WorkerConfigError
from tests.job_handlers.effect import HANDLER as EFFECT

NAMES = ["default", "a", "a" * 40, "a" * 41, "a" * 63, "a" * 64, "Default", "_x", "x-y", "x y", "default\n",
         "\ndefault", "9lives", "über", "", "q1_2"]


def test_the_constants_module_is_what_the_migrated_catalog_says(db: psycopg.Connection) -> None:
    expected = render(read_facts(db))
    assert CONSTANTS.read_text(encoding="utf-8") == expected, (
        "salesflow/db/constants.py is stale: run `python -m salesflow.db.catalog_facts DATABASE_URL`")


def _database_accepts(db: psycopg.Connection, kind: str, queue: str) -> bool:
    try:
        with db.transaction(force_rollback=True):
            db.execute("select salesflow.enqueue(%s, '{}'::jsonb, queue => %s)", (kind, queue))
    except (psycopg.errors.CheckViolation, psycopg.errors.InvalidParameterValue):
        return False
    return True


def test_the_worker_and_the_database_agree_on_every_queue_name(db: psycopg.Connection) -> None:
    def python(name: str) -> bool:
        try:
            WorkerConfig(queues=(name,))
        except WorkerConfigError:
            return False
        return True

    verdicts = {name: (python(name), _database_accepts(db, "noop", name)) for name in NAMES}
    assert {n for n, (py, sql) in verdicts.items() if py != sql} == set()
    assert {n for n, (py, _) in verdicts.items() if py} == {"default", "a", "a" * 40, "q1_2"}


def test_the_registry_and_the_database_agree_on_every_job_kind(db: psycopg.Connection) -> None:
    def python(name: str) -> bool:
        try:
            Handler(kind=name, payload=EFFECT.payload, run=EFFECT.run)
        except RegistryError:
            return False
        return True

    verdicts = {name: (python(name), _database_accepts(db, name, "default")) for name in NAMES}
    assert {n for n, (py, sql) in verdicts.items() if py != sql} == set()
    assert {n for n, (py, _) in verdicts.items() if py} == {"default", "a", "a" * 40, "a" * 41, "a" * 63, "q1_2"}


def test_the_search_channels_and_the_job_statuses_are_the_enums(db: psycopg.Connection) -> None:
    from salesflow.api.search import SearchRequest

    channels = [r[0] for r in db.execute("select unnest(enum_range(null::salesflow.channel))::text").fetchall()]
    assert SearchRequest.model_fields["channel"].annotation.__args__[0].__args__ == tuple(channels)
    statuses = [r[0] for r in db.execute("select unnest(enum_range(null::salesflow.job_status))::text").fetchall()]
    assert constants.JOB_STATUSES == tuple(statuses)

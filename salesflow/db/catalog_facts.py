"""Read the facts Python repeats from the migrated catalog, and write them as salesflow/db/constants.py.

Job-kind and queue-name patterns (CHECK constraints of salesflow.jobs), the channel enum and the job
statuses are defined once, in SQL. Python needs some of them before it can ask the database (an
argument's choices, a request model), so it imports the generated constants module, and
tests/test_constants.py fails when a migration changes a fact and the module was not regenerated:

    .venv/bin/python -m salesflow.db.catalog_facts DATABASE_URL    # a migrated database
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from salesflow.db.queries import query

CONSTANTS = Path(__file__).with_name("constants.py")
_CHECK_PATTERN = re.compile(r"~ '((?:[^']|'')*)'::text")


def _pattern(check: str | None, column: str) -> str:
    found = _CHECK_PATTERN.search(check or "")
    if found is None:
        raise ValueError(f"salesflow.jobs has no regular-expression CHECK on {column} (got {check!r})")
    return found.group(1).replace("''", "'")


def read_facts(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The facts, as the catalog of a migrated database states them."""
    row = conn.cursor(row_factory=dict_row).execute(query("catalog_facts")).fetchone()
    assert row is not None
    return {"JOB_KIND_PATTERN": _pattern(row["kind_check"], "kind"),
            "QUEUE_NAME_PATTERN": _pattern(row["queue_check"], "queue"),
            "CHANNELS": tuple(row["channels"]), "JOB_STATUSES": tuple(row["job_statuses"])}


def render(facts: dict[str, Any]) -> str:
    """The text of salesflow/db/constants.py for `facts`."""
    return f'''"""Facts defined in SQL that Python needs before it can ask the database. Generated: do not edit.

Regenerate with `python -m salesflow.db.catalog_facts DATABASE_URL` (salesflow/db/catalog_facts.py);
tests/test_constants.py compares this file with a freshly migrated catalog.
"""

from __future__ import annotations

from typing import Final

# CHECK (kind ~ ...) on salesflow.jobs and salesflow.schedules (sql/migrations/0002_queue.sql)
JOB_KIND_PATTERN: Final = {facts["JOB_KIND_PATTERN"]!r}
# CHECK (queue ~ ...) on salesflow.jobs and salesflow.schedules
QUEUE_NAME_PATTERN: Final = {facts["QUEUE_NAME_PATTERN"]!r}
# enum salesflow.channel, in its sort order
CHANNELS: Final = {facts["CHANNELS"]!r}
# enum salesflow.job_status, in its sort order
JOB_STATUSES: Final = {facts["JOB_STATUSES"]!r}
'''


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m salesflow.db.catalog_facts DATABASE_URL", file=sys.stderr)
        return 2
    with psycopg.connect(args[0]) as conn:
        CONSTANTS.write_text(render(read_facts(conn)), encoding="utf-8")
    print(f"wrote {CONSTANTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

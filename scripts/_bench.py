"""What the benchmark scripts share: percentiles, and a throwaway migrated database with one organisation."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate


def pct(samples: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of samples in seconds, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


@contextmanager
def bench_database(prefix: str) -> Iterator[tuple[str, uuid.UUID, Path]]:
    """An embedded PostgreSQL (fsync off) in a temporary folder, migrated, with one organisation:
    (database URL, organisation id, the folder). Stopped and removed on exit."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    db = EmbeddedServer(home / "pgdata", fast_unsafe=True)
    try:
        db.start(free_port())
        db.ensure_database()
        url = db.url()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
            org_id = conn.execute("insert into salesflow.organizations (name, slug) values ('Bench', %s) "
                                  "returning id", (f"bench-{uuid.uuid4().hex[:8]}",)).fetchone()[0]
        yield url, org_id, home
    finally:
        db.stop(mode="immediate")
        shutil.rmtree(home, ignore_errors=True)

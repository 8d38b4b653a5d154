"""A progress line for `salesflow up` while texts wait for their embeddings."""

from __future__ import annotations

import threading

import psycopg

from salesflow.db.queries import query

__all__ = ["backlog_line", "report_backlog"]


def backlog_line(conn: psycopg.Connection) -> str | None:
    """One line on the embedding backlog across organisations, or None when nothing waits."""
    row = conn.execute(query("embedding_backlog_total")).fetchone()
    if row is None or not row[0]:
        return None
    pending, fresh, oldest = row
    return (f"embedding backlog: {pending:,} texts waiting ({fresh:,} fresh, embedded first), oldest "
            f"{oldest:.0f} s; keyword search finds them already, semantic search once embedded")


def report_backlog(url: str, stop: threading.Event, every: float = 30.0) -> threading.Thread:
    """Print backlog_line every `every` seconds until `stop` is set, and once more when it drains."""

    def run() -> None:
        waiting = False
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    line = backlog_line(conn)
            except psycopg.Error:  # the database is going away with `up`; say nothing
                line = None
            if line:
                print(line, flush=True)
            elif waiting:
                print("embedding backlog: done, every text is searchable by meaning", flush=True)
            waiting = line is not None
            stop.wait(every)

    thread = threading.Thread(target=run, name="embedding-backlog", daemon=True)
    thread.start()
    return thread

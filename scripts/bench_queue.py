"""Queue throughput and enqueue-to-start latency: SalesFlow's queue next to procrastinate, same run.

Starts one embedded PostgreSQL with two databases, one migrated for SalesFlow and one with
procrastinate's schema, and for 1, 2 and 4 worker processes of each (same concurrency per
process, no-op jobs, LISTEN/NOTIFY on for both):

- throughput: J jobs enqueued in one transaction, timed from its commit until every job has
  finished, by polling the jobs table every 20 ms;
- latency: L jobs enqueued one by one (one transaction each) at a fixed pace well below either
  system's capacity; enqueue-to-start per job from the database's own timestamps (SalesFlow:
  jobs.started_at - created_at; procrastinate: its 'started' event - its 'deferred' event).

Prints figures and ratios; asserts nothing. Needs the bench extra: pip install -e '.[bench]'.

    .venv/bin/python scripts/bench_queue.py [--jobs 5000] [--latency-jobs 300] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Result:
    throughput: float  # jobs per second
    p50: float  # milliseconds
    p95: float


@dataclass(frozen=True)
class System:
    name: str
    url: str
    start_worker: Callable[[int], subprocess.Popen[bytes]]
    ready: str  # a query answering how many workers are ready
    bulk_enqueue: str  # %s: number of jobs
    enqueue_one: str
    finished: str
    latencies: str  # milliseconds, one row per job
    clear_jobs: str  # between the two phases, with workers running
    reset: str  # before workers start


def salesflow_system(url: str, concurrency: int) -> System:
    def start(_: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--no-schedules", "--log-format", "text",
             "--concurrency", str(concurrency)],
            env={**os.environ, "DATABASE_URL": url}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    return System(
        name="salesflow", url=url, start_worker=start,
        ready="select count(*) from pg_stat_activity where application_name like 'salesflow-worker listen %%'",
        bulk_enqueue="select count(salesflow.enqueue('noop')) from generate_series(1, %s)",
        enqueue_one="select salesflow.enqueue('noop')",
        finished="select count(*) from salesflow.jobs where status = 'completed'",
        latencies="select extract(epoch from started_at - created_at) * 1000 from salesflow.jobs",
        clear_jobs="truncate salesflow.jobs",
        reset="truncate salesflow.jobs",
    )


def procrastinate_system(url: str, concurrency: int) -> System:
    def start(_: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, __file__, "--procrastinate-worker", url, "--concurrency", str(concurrency)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    job = "row('default', 'noop', 0, null, null, '{}'::jsonb, null)::procrastinate_job_to_defer_v1"
    return System(
        name="procrastinate", url=url, start_worker=start,
        ready="select count(*) from procrastinate_workers",
        bulk_enqueue=f"select cardinality(procrastinate_defer_jobs_v1(array(select {job} "
                     "from generate_series(1, %s))))",
        enqueue_one=f"select procrastinate_defer_jobs_v1(array[{job}])",
        finished="select count(*) from procrastinate_jobs where status = 'succeeded'",
        latencies="""
            select extract(epoch from s.at - d.at) * 1000
            from procrastinate_events as d join procrastinate_events as s on s.job_id = d.job_id
            where d.type = 'deferred' and s.type = 'started'
        """,
        clear_jobs="truncate procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers cascade",
        reset="truncate procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
              "procrastinate_workers cascade",
    )


def run_procrastinate_worker(url: str, concurrency: int) -> None:
    """A procrastinate worker process with one no-op async task (the baseline's side of the bench)."""
    import procrastinate

    logging.basicConfig(level=logging.WARNING)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop", queue="default")
    async def noop() -> None:
        return None

    app.run_worker(queues=["default"], concurrency=concurrency, listen_notify=True)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.02)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(system: System, processes: int, jobs: int, latency_jobs: int, pace: float) -> Result:
    with psycopg.connect(system.url, autocommit=True) as conn:
        def count(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]

        conn.execute(system.reset)
        workers = [system.start_worker(i) for i in range(processes)]
        try:
            wait_until(lambda: count(system.ready) >= processes, f"{processes} {system.name} workers to start", 60)
            time.sleep(0.5)  # let every worker reach its idle wait

            conn.execute(system.bulk_enqueue, (jobs,))
            started = time.perf_counter()
            wait_until(lambda: count(system.finished) >= jobs, f"{system.name} to finish {jobs} jobs")
            throughput = jobs / (time.perf_counter() - started)

            conn.execute(system.clear_jobs)
            for _ in range(latency_jobs):
                conn.execute(system.enqueue_one)
                time.sleep(pace)
            wait_until(lambda: count(system.finished) >= latency_jobs, f"{system.name} latency jobs")
            latencies = [float(r[0]) for r in conn.execute(system.latencies).fetchall()]
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
    return Result(throughput, percentile(latencies, 0.5), percentile(latencies, 0.95))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per throughput run")
    parser.add_argument("--latency-jobs", type=int, default=300, help="jobs per latency run")
    parser.add_argument("--pace", type=float, default=0.02, help="seconds between latency enqueues (default 0.02)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    parser.add_argument("--concurrency", type=int, default=10, help="jobs at once per worker process (both)")
    parser.add_argument("--fast-unsafe", action="store_true", help="fsync off (default: a durable server)")
    parser.add_argument("--procrastinate-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.procrastinate_worker:
        run_procrastinate_worker(args.procrastinate_worker, args.concurrency)
        return 0

    try:
        import procrastinate  # noqa: F401
    except ImportError:
        raise SystemExit("procrastinate is not installed: pip install -e '.[bench]'") from None

    home = Path(tempfile.mkdtemp(prefix="salesflow-bench-queue-"))
    server = EmbeddedServer(home / "pgdata", fast_unsafe=args.fast_unsafe)
    server.start(free_port())
    try:
        for name in ("bench_salesflow", "bench_procrastinate"):
            server.ensure_database(name)
        with psycopg.connect(server.url("bench_salesflow"), autocommit=True) as conn:
            migrate(conn)
        with psycopg.connect(server.url("bench_procrastinate"), autocommit=True) as conn:
            conn.execute(resources.files("procrastinate.sql").joinpath("schema.sql").read_text().encode())
        systems = [salesflow_system(server.url("bench_salesflow"), args.concurrency),
                   procrastinate_system(server.url("bench_procrastinate"), args.concurrency)]
        counts = [int(n) for n in args.workers.split(",")]
        results: dict[tuple[str, int], Result] = {}
        for n in counts:
            for system in systems:
                results[(system.name, n)] = r = measure(system, n, args.jobs, args.latency_jobs, args.pace)
                print(f"  {system.name:<13} {n} worker(s): {r.throughput:8.0f} jobs/s, "
                      f"enqueue-to-start p50 {r.p50:.1f} ms, p95 {r.p95:.1f} ms", flush=True)

        import procrastinate as p

        print()
        print(f"no-op jobs; {args.jobs} per throughput run, {args.latency_jobs} per latency run "
              f"(one every {args.pace * 1000:.0f} ms); concurrency {args.concurrency} per process; "
              f"{os.cpu_count()} cores; PostgreSQL {'fsync off' if args.fast_unsafe else 'durable'}; "
              f"procrastinate {p.__version__ if hasattr(p, '__version__') else ''}".rstrip())
        header = (f"{'workers':>7} | {'salesflow jobs/s':>16} | {'procrastinate jobs/s':>20} | {'ratio':>6} | "
                  f"{'salesflow p50/p95 ms':>20} | {'procrastinate p50/p95 ms':>24}")
        print(header)
        print("-" * len(header))
        for n in counts:
            s, b = results[("salesflow", n)], results[("procrastinate", n)]
            print(f"{n:>7} | {s.throughput:>16.0f} | {b.throughput:>20.0f} | {s.throughput / b.throughput:>5.1f}x | "
                  f"{s.p50:>9.1f} / {s.p95:>8.1f} | {b.p50:>11.1f} / {b.p95:>10.1f}")
        medians = statistics.median(results[("salesflow", n)].throughput / results[("procrastinate", n)].throughput
                                    for n in counts)
        print(f"median throughput ratio: {medians:.1f}x")
    finally:
        server.stop(mode="fast")
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

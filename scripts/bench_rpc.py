"""RPC gateway throughput and latency under concurrency, next to a psycopg pool running the same SQL.

Loads a demo organisation (default 100,000 leads) with COPY into a fresh embedded PostgreSQL,
starts the API as its own process (`salesflow api`, its default server configuration unless
--workers/--pool-size say otherwise), and drives it from a separate load-generator process: a
keep-alive HTTP/1.1 connection per client on uvloop (as wrk does), 1, 8, 32 and 128 concurrent
clients. For each operation
(`get_lead` for random leads, `list_leads` with a page of 50, `create_activity`, a write) the same
process then runs the same calls over a psycopg pool of the gateway's total pool size: role and
claims set transaction-locally and the RPC called, in one pipelined round trip, as the gateway does.

Per row: requests/s, p50/p95/p99, and where the machine's CPU went during the measured window
(load generator, API processes, PostgreSQL; from /proc/<pid>/stat), plus the API's resident memory.
`--profile` samples the API with py-spy (the `bench` extra) under 32 clients and prints the
functions where its time goes. Prints figures; asserts nothing.

    .venv/bin/python scripts/bench_rpc.py [--leads 100000] [--seconds 4] [--quick] [--profile] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from _bench import pct

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate
from salesflow.demo import DemoResult, DemoUser, load_demo
from salesflow.tokens import issue_token

SECRET = "bench-secret-bench-secret-bench-secret-000"
ROOT = Path(__file__).resolve().parents[1]
OPS = ("get_lead", "list_leads", "create_activity")
STAGES = ["lead", "mql", "sql", "opportunity", "customer"]
# what a client calling PostgreSQL directly would send: the RPC with typed named arguments
DIRECT_SQL = {
    "get_lead": "select to_jsonb(r)::text from api.get_lead(%(org_id)s::uuid, %(lead_id)s::uuid) r",
    "list_leads": "select coalesce(jsonb_agg(to_jsonb(r)), '[]')::text from api.list_leads(org_id => "
                  "%(org_id)s::uuid, stage => %(stage)s::salesflow.lifecycle_stage, owner_id => %(owner_id)s::uuid, "
                  "page_size => %(page_size)s::int) r",
    "create_activity": "select to_jsonb(r)::text from api.create_activity(org_id => %(org_id)s::uuid, kind => "
                       "%(kind)s::salesflow.activity_kind, lead_id => %(lead_id)s::uuid, subject => %(subject)s) r",
}
CONTEXT_SQL = ("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %(claims)s, true),"
               " set_config('transaction_read_only', %(read_only)s, true)")
TICK = os.sysconf("SC_CLK_TCK")


# -- the load generator (a process of its own) ---------------------------------------------------
def call_args(op: str, spec: dict, rng: random.Random) -> dict:
    org, lead = spec["org_id"], rng.choice(spec["lead_ids"])
    if op == "get_lead":
        return {"org_id": org, "lead_id": lead}
    if op == "list_leads":
        return {"org_id": org, "stage": rng.choice(STAGES), "owner_id": rng.choice(spec["owners"]), "page_size": 50}
    return {"org_id": org, "kind": "note", "lead_id": lead, "subject": f"bench note {rng.randrange(10**6)}"}


class HttpConnection:
    """A minimal keep-alive HTTP/1.1 client connection: POST a JSON body, read the whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        self.reader, self.writer, self.head = reader, writer, head

    @classmethod
    async def open(cls, host: str, port: int, token: str) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        head = (f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n").encode()
        return cls(reader, writer, head)

    async def post(self, target: str, body: bytes) -> int:
        self.writer.write(b"POST " + target.encode() + b" HTTP/1.1\r\n" + self.head
                          + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:] if line)}
        if b"content-length" in fields:
            await self.reader.readexactly(int(fields[b"content-length"]))
        elif fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        return status

    def close(self) -> None:
        self.writer.close()


async def drive(spec: dict) -> dict:
    op, clients, path = spec["op"], spec["clients"], spec["path"]
    lat: list[float] = []
    errors = Counter()
    state = {"measuring": False, "stop": False}
    if path == "gateway":
        # one keep-alive HTTP/1.1 connection per client, like wrk: httpx's pool spends a core of its
        # own above ~16 connections, and the figure would then be the client's, not the gateway's
        host, port = spec["api_url"].split("//", 1)[1].split(":")
        conns: dict[int, HttpConnection] = {}

        async def one(args: dict, slot: int) -> None:
            conn = conns.get(slot)
            if conn is None:
                conn = conns[slot] = await HttpConnection.open(host, int(port), spec["token"])
            status = await conn.post(f"/rest/v1/rpc/{op}", json.dumps(args).encode())
            if status != 200:
                errors[status] += 1
    else:
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(spec["database_url"], min_size=spec["pool_size"], max_size=spec["pool_size"],
                                   kwargs={"autocommit": True}, open=False)
        await pool.open(wait=True)
        context = {"claims": spec["claims"], "read_only": "off" if op == "create_activity" else "on"}

        async def one(args: dict, slot: int) -> None:
            async with pool.connection() as conn:
                async with conn.pipeline():
                    await conn.execute(CONTEXT_SQL, context)
                    cur = await conn.execute(DIRECT_SQL[op], args)
                await cur.fetchone()

    async def client(seed: int, slot: int) -> None:
        rng = random.Random(seed)
        while not state["stop"]:
            args = call_args(op, spec, rng)
            t = time.perf_counter()
            try:
                await one(args, slot)
            except Exception as exc:  # noqa: BLE001 - counted and printed, the run goes on
                errors[type(exc).__name__] += 1
            if state["measuring"]:
                lat.append(time.perf_counter() - t)

    tasks = [asyncio.create_task(client(spec["seed"] * 1000 + i, i)) for i in range(clients)]
    await asyncio.sleep(spec["warmup"])
    print("start", flush=True)  # the parent reads the CPU counters now
    ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    state["measuring"] = True
    await asyncio.sleep(spec["seconds"])
    state["measuring"] = False
    elapsed, ru1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    print("stop", flush=True)
    sys.stdin.readline()  # the parent has read the CPU counters (connections still open); wind down
    state["stop"] = True
    await asyncio.gather(*tasks)
    if path == "gateway":
        for conn in conns.values():
            conn.close()
    else:
        await pool.close()
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return {"n": len(lat), "elapsed": elapsed, "p50": pct(lat, .5), "p95": pct(lat, .95), "p99": pct(lat, .99),
            "loadgen_cpu": cpu, "errors": dict(errors)}


def loadgen_main() -> int:
    import uvloop

    spec = json.loads(sys.stdin.readline())
    result = uvloop.run(drive(spec))
    print(json.dumps(result), flush=True)
    return 0


# -- CPU and memory from /proc ------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(root: int) -> list[int]:
    kids, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return out


def machine_busy() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK  # all but idle and iowait


def rss_mb(pids: list[int], field: str = "VmRSS") -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Procs:
    api: int
    postmaster: int

    def snapshot(self) -> tuple[dict[int, float], dict[int, float], float]:
        return cpu_seconds(tree(self.api)), cpu_seconds(tree(self.postmaster)), machine_busy()


def delta(after: dict[int, float], before: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


# -- the parent --------------------------------------------------------------------------------
def start_api(database_url: str, workers: int | None, pool_size: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SALESFLOW_JWT_SECRET": SECRET, "SALESFLOW_API_PORT": str(port)}
    if workers:
        env["SALESFLOW_API_WORKERS"] = str(workers)
    if pool_size:
        env["SALESFLOW_API_POOL_SIZE"] = str(pool_size)
    proc = subprocess.Popen([sys.executable, "-m", "salesflow", "api", "--no-migrate"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not come up")


def api_pool_size() -> tuple[int, int]:
    """(worker processes, connections of each) the API runs with, from the same environment."""
    from salesflow.api.server import ServerOptions

    options = ServerOptions.from_env(os.environ)
    return options.workers, options.pool_size


def run_one(spec: dict, procs: Procs) -> dict:
    gen = subprocess.Popen([sys.executable, __file__, "--loadgen"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True, cwd=ROOT)
    gen.stdin.write(json.dumps(spec) + "\n")
    gen.stdin.flush()
    assert gen.stdout.readline().strip() == "start"
    api0, pg0, busy0 = procs.snapshot()
    assert gen.stdout.readline().strip() == "stop"
    api1, pg1, busy1 = procs.snapshot()
    rss = rss_mb(tree(procs.api))
    gen.stdin.write("done\n")
    gen.stdin.close()
    result = json.loads(gen.stdout.readline())
    gen.wait(60)
    result.update(api_cpu=delta(api1, api0), pg_cpu=delta(pg1, pg0), busy=busy1 - busy0, api_rss=rss)
    return result


def profile(spec: dict, procs: Procs, seconds: float) -> None:
    """py-spy samples every API process while 32 clients call get_lead; top functions by own time."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path(tempfile.mkdtemp(prefix="salesflow-prof-"))
    pids = [p for p in tree(procs.api) if "salesflow" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
            or "multiprocessing" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
    spies = [subprocess.Popen([py_spy, "record", "-p", str(pid), "-d", str(int(seconds) + 1), "-r", "200",
                               "-f", "raw", "-o", str(out / f"{pid}.txt"), "--nonblocking"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]
    run_one({**spec, "seconds": seconds}, procs)
    for spy in spies:
        spy.wait(60)
    own, total = Counter(), 0
    inclusive = Counter()
    for f in out.glob("*.txt"):
        for line in f.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            n = int(count)
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    if not total:
        print("py-spy recorded nothing (is the bench extra installed?)")
        return
    print(f"\nprofile of the API under 32 clients (get_lead), {total} samples; own time:")
    for frame, n in own.most_common(20):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print("inclusive time of selected frames:")
    for key in ("caller_of", "read_json_object", "call (", "pipeline", "handle_events", "data_received", "httptools",
                "json_response", "build_middleware_stack", "__call__ (starlette/routing.py", "execute", "_translate",
                "dumps", "loads", "getconn", "putconn"):
        hits = [(f, n) for f, n in inclusive.items() if key in f]
        if hits:
            frame, n = max(hits, key=lambda x: x[1])
            print(f"  {100 * n / total:5.1f}%  {frame}")
    shutil.rmtree(out, ignore_errors=True)


def per_k(r: dict, key: str) -> float:
    """CPU seconds per 1,000 measured requests (less sensitive to a busy machine than req/s)."""
    return 1000 * r[key] / r["n"] if r["n"] else float("nan")


def print_cpu_summary(rows: list[dict]) -> None:
    """Python per request: the API's CPU against the psycopg pool client's, the same calls in the same run."""
    print("\nCPU seconds per 1,000 requests: the API process(es) on the gateway path, the load generator (the "
          "psycopg pool's Python) on the direct path, and PostgreSQL on each")
    print(f"{'operation':<16}{'clients':>7}{'api':>8}{'pool':>8}{'api/pool':>9}{'pg gw':>8}{'pg pool':>8}")
    by = {(r["op"], r["clients"], r["path"]): r for r in rows}
    for (op, n, path), gw in by.items():
        direct = by.get((op, n, "psycopg"))
        if path != "gateway" or direct is None:
            continue
        api, pool = per_k(gw, "api_cpu"), per_k(direct, "loadgen_cpu")
        print(f"{op:<16}{n:>7}{api:>8.3f}{pool:>8.3f}{api / pool if pool else float('nan'):>9.2f}"
              f"{per_k(gw, 'pg_cpu'):>8.3f}{per_k(direct, 'pg_cpu'):>8.3f}")


def _demo_from_json(saved: dict) -> DemoResult:
    users = [DemoUser(uuid.UUID(u["user_id"]), u["role"], u["display_name"], u["email"]) for u in saved["users"]]
    return DemoResult(uuid.UUID(saved["org_id"]), saved["org_name"], users, saved["counts"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured window per row")
    parser.add_argument("--clients", default="1,8,32,128")
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--workers", type=int, help="API worker processes (default: the API's own default)")
    parser.add_argument("--pool-size", type=int, help="connections per API process (default: the API's own)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 leads, 1 s per row, 1 and 8 clients")
    parser.add_argument("--profile", action="store_true", help="sample the API with py-spy under 32 clients")
    parser.add_argument("--with-limits", action="store_true", help="keep the API's per-caller rate limits on")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the loaded database in DIR and reuse it on the next run with the same DIR "
                             "(the load of 100,000 leads takes minutes; the measurement does not)")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        return loadgen_main()
    if not args.with_limits:
        # one token drives every client here, so the per-caller limits (100 req/s, 8 in flight)
        # would measure the limiter; PostgREST, the anchor, has none
        os.environ["SALESFLOW_RATE_LIMIT"] = "0"
    if args.quick:
        args.leads, args.seconds, args.clients = 5000, 1.0, "1,8"
    clients = [int(c) for c in args.clients.split(",")]
    ops = args.ops.split(",")

    home = args.keep or Path(tempfile.mkdtemp(prefix="salesflow-bench-"))
    saved = home / "demo.json"
    server = EmbeddedServer(home / "pgdata", fast_unsafe=True)
    api = None
    try:
        server.start(free_port())
        server.ensure_database()
        url = server.url()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
        if saved.exists():
            demo = _demo_from_json(json.loads(saved.read_text()))
            load_s = 0.0
        else:
            t0 = time.perf_counter()
            with psycopg.connect(url) as conn:
                demo = load_demo(conn, leads=args.leads, seed=1, activities_per_lead=args.activities_per_lead,
                                 org_name="Bench")
                conn.commit()
            load_s = time.perf_counter() - t0
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("vacuum analyze")
            if args.keep:
                saved.write_text(json.dumps(dataclasses.asdict(demo), default=str))
        with psycopg.connect(url, autocommit=True) as conn:
            lead_ids = [str(r[0]) for r in conn.execute(
                "select id from salesflow.leads where org_id = %s", (demo.org_id,)).fetchall()]
            owners = [str(r[0]) for r in conn.execute(
                "select distinct owner_id from salesflow.leads where org_id = %s and owner_id is not null",
                (demo.org_id,)).fetchall()]
        print(f"reused the database in {home} ({demo.counts})" if not load_s else
              f"loaded {demo.counts} in {load_s:.1f} s")

        owner = next(u for u in demo.users if u.role == "owner")
        token = issue_token(SECRET, "authenticated", user_id=owner.user_id, ttl_seconds=3600)
        claims = json.dumps({"role": "authenticated", "sub": str(owner.user_id)})
        if args.workers:
            os.environ["SALESFLOW_API_WORKERS"] = str(args.workers)
        if args.pool_size:
            os.environ["SALESFLOW_API_POOL_SIZE"] = str(args.pool_size)
        api, api_url = start_api(url, args.workers, args.pool_size)
        workers, per_process = api_pool_size()
        postmaster = int((home / "pgdata" / "postmaster.pid").read_text().split()[0])
        procs = Procs(api.pid, postmaster)
        base = {"org_id": str(demo.org_id), "lead_ids": lead_ids, "owners": owners, "token": token, "claims": claims,
                "api_url": api_url, "database_url": url, "pool_size": workers * per_process,
                "warmup": min(1.0, args.seconds / 2), "seconds": args.seconds, "seed": 7}
        print(f"API: {workers} worker process(es) x {per_process} connections; psycopg pool of "
              f"{workers * per_process}; load from a separate process (one keep-alive connection per client, uvloop); "
              f"{os.cpu_count()} cores\n")
        header = (f"{'operation':<16}{'clients':>7} {'path':<8}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
                  f"{'ratio':>7}  {'CPU s/s: load':>13}{'api':>6}{'pg':>6}{'all':>6}{'api MB':>8}"
                  f"  {'CPU s/1k req: load':>18}{'api':>6}{'pg':>6}")
        print(header)
        rows: list[dict] = []
        for op in ops:
            for n in clients:
                per_path = {}
                for path in ("gateway", "psycopg"):
                    r = run_one({**base, "op": op, "clients": n, "path": path}, procs)
                    per_path[path] = r
                    rate = r["n"] / r["elapsed"]
                    ratio = "" if path == "gateway" else \
                        f"{(per_path['gateway']['n'] / per_path['gateway']['elapsed']) / rate:.2f}"
                    s = r["elapsed"]
                    print(f"{op:<16}{n:>7} {path:<8}{rate:>8.0f}{r['p50']:>8.2f}{r['p95']:>8.2f}{r['p99']:>8.2f}"
                          f"{ratio:>7}  {r['loadgen_cpu'] / s:>13.2f}{r['api_cpu'] / s:>6.2f}"
                          f"{r['pg_cpu'] / s:>6.2f}{r['busy'] / s:>6.2f}{r['api_rss']:>8.0f}"
                          f"  {per_k(r, 'loadgen_cpu'):>18.3f}{per_k(r, 'api_cpu'):>6.3f}{per_k(r, 'pg_cpu'):>6.3f}"
                          + (f"  errors {r['errors']}" if r["errors"] else ""), flush=True)
                    rows.append({"op": op, "clients": n, "path": path, **{k: v for k, v in r.items()}})
        print(f"\nratio: gateway req/s / psycopg req/s in the same run. API peak RSS (VmHWM): "
              f"{rss_mb(tree(api.pid), 'VmHWM'):.0f} MB over {len(tree(api.pid))} process(es)")
        print_cpu_summary(rows)
        if args.profile:
            profile({**base, "op": "get_lead", "clients": 32, "path": "gateway"}, procs, max(args.seconds, 5))
        return 0
    finally:
        if api is not None:
            api.terminate()
            api.wait(15)
        server.stop(mode="immediate")
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

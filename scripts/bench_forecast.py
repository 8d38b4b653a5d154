"""Revenue forecast and deal win probabilities on public data, with a time split, beside naive baselines.

Data: ../shared/data/crm-pipeline (Maven Analytics "CRM + Sales Opportunities", 8,800 opportunities).
At each month-end cut-off, one organisation is loaded with only what was known then: deals engaged by
the cut-off; those closed by then as won (with their value) or lost; every other deal open, in an
unknown stage, with no value (the data gives open deals none). The product's own SQL
(`api.forecast_revenue`, `api.predict_open_deals`) forecasts the won value of the next 30 days and
each open deal's chance to be won within them; the truth is read from the full file afterwards.

Data quirks: lost deals carry no value; "GTXPro" in the pipeline is "GTX Pro" in products.csv (the
product's value estimate folds case and punctuation, so both are one product); 500 "Prospecting"
rows have no engage date, so when they were created is unknown: they are left out (none ever closes).

    .venv/bin/python scripts/bench_forecast.py [--data ../shared/data/crm-pipeline]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import bench_database, pct  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HORIZON = 30


@dataclass(frozen=True)
class Opportunity:
    id: str
    product: str
    stage: str  # Won, Lost, Engaging, Prospecting
    engaged: date | None
    closed: date | None
    value: float


def read_pipeline(folder: Path) -> list[Opportunity]:
    rows = []
    with (folder / "sales_pipeline.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            rows.append(Opportunity(
                r["opportunity_id"], r["product"], r["deal_stage"],
                date.fromisoformat(r["engage_date"]) if r["engage_date"] else None,
                date.fromisoformat(r["close_date"]) if r["close_date"] else None,
                float(r["close_value"]) if r["close_value"] else 0.0,
            ))
    return rows


def noon(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


def month_ends(first: date, last: date) -> list[date]:
    out, d = [], first
    while d <= last:
        out.append(d)
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        d = date(nxt.year + (nxt.month == 12), nxt.month % 12 + 1, 1) - timedelta(days=1)
    return out


def load_cutoff(conn: psycopg.Connection, opps: list[Opportunity], cutoff: date) -> str:
    """A fresh organisation holding the pipeline as it stood at the end of `cutoff`."""
    org = conn.execute("insert into salesflow.organizations (name, slug) values (%s, %s) returning id",
                       (f"CRM at {cutoff}", f"crm-{cutoff}")).fetchone()[0]
    buf = io.StringIO()
    writer = csv.writer(buf)
    for o in opps:
        if o.engaged is None or o.engaged > cutoff:
            continue
        closed = o.closed is not None and o.closed <= cutoff and o.stage in ("Won", "Lost")
        stage = ("closed_won" if o.stage == "Won" else "closed_lost") if closed else "qualification"
        writer.writerow([
            org, o.id, stage, f"{o.value:.2f}" if closed and o.stage == "Won" else "0",
            noon(o.engaged).isoformat(), noon(o.closed).isoformat() if closed else "",
            json.dumps({"product": o.product}),
        ])
    with conn.cursor().copy(
        "copy salesflow.deals (org_id, name, stage, amount, created_at, closed_at, attributes) "
        "from stdin (format csv, null '')"
    ) as copy:
        copy.write(buf.getvalue())
    return str(org)


def won_between(opps: list[Opportunity], start: date, end: date) -> float:
    """Won value with a close date in [start, end]."""
    return sum(o.value for o in opps if o.stage == "Won" and o.closed and start <= o.closed <= end)


def brier(pairs: list[tuple[float, int]]) -> float:
    return sum((p - y) ** 2 for p, y in pairs) / len(pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "crm-pipeline")
    parser.add_argument("--first", type=date.fromisoformat, default=date(2017, 5, 31))
    parser.add_argument("--last", type=date.fromisoformat, default=date(2017, 11, 30))
    args = parser.parse_args()
    if not (args.data / "sales_pipeline.csv").exists():
        print(f"bench_forecast: error: {args.data / 'sales_pipeline.csv'} not found (pass --data)", file=sys.stderr)
        return 2
    opps = read_pipeline(args.data)
    cutoffs = month_ends(args.first, args.last)
    names = ["product", "last month", "3-month mean", "stage-weighted pipeline"]
    forecasts: dict[str, list[float]] = {n: [] for n in names}
    actuals: list[float] = []
    bands: list[tuple[float, float]] = []
    deal_pairs: dict[str, list[tuple[float, int]]] = {"product": [], "base rate": [], "win share": []}
    forecast_seconds: list[float] = []
    deal_seconds: list[float] = []

    with bench_database("salesflow-bench-forecast-") as (url, _org, _home), psycopg.connect(url) as conn:
        print(f"{'cut-off':<11} {'actual':>10} {'P10':>10} {'P50':>10} {'P90':>10} {'last mo.':>10} "
              f"{'3-mo mean':>10} {'stage-w.':>10} {'open':>5}")
        for cutoff in cutoffs:
            org = load_cutoff(conn, opps, cutoff)
            conn.commit()
            as_of = noon(cutoff) + timedelta(hours=12)  # the end of the cut-off day
            horizon_end = cutoff + timedelta(days=HORIZON)

            started = time.perf_counter()
            row = conn.execute(
                "select p10, p50, p90 from api.forecast_revenue(%s, 1, %s, %s)", (org, HORIZON, as_of)
            ).fetchone()
            forecast_seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
            deals = conn.execute(
                "select d.name, p.win_within_horizon, p.expected_value from api.predict_open_deals(%s, %s, %s) as p "
                "join salesflow.deals as d on d.org_id = %s and d.id = p.deal_id", (org, HORIZON, as_of, org),
            ).fetchall()
            deal_seconds.append(time.perf_counter() - started)

            by_id = {o.id: o for o in opps}
            actual = won_between(opps, cutoff + timedelta(days=1), horizon_end)
            last_month = won_between(opps, cutoff - timedelta(days=HORIZON - 1), cutoff)
            three_months = won_between(opps, cutoff - timedelta(days=3 * HORIZON - 1), cutoff) / 3
            # baselines' deal probabilities, from what was known at the cut-off only
            known = [o for o in opps if o.engaged and o.engaged <= cutoff]
            closed = [o for o in known if o.closed and o.closed <= cutoff and o.stage in ("Won", "Lost")]
            win_share = sum(o.stage == "Won" for o in closed) / len(closed)
            previous = cutoff - timedelta(days=HORIZON)
            open_then = [o for o in known if o.engaged <= previous and not (o.closed and o.closed <= previous)]
            base_rate = sum(
                1 for o in open_then if o.stage == "Won" and o.closed and o.closed <= cutoff
            ) / max(1, len(open_then))
            stage_weighted = sum(float(value) * win_share for _, _, value in deals)

            for name, p, _value in deals:
                o = by_id[name]
                y = int(o.stage == "Won" and o.closed is not None and o.closed <= horizon_end)
                deal_pairs["product"].append((float(p), y))
                deal_pairs["base rate"].append((base_rate, y))
                deal_pairs["win share"].append((win_share, y))
            p10, p50, p90 = (float(v) for v in row)
            for name, value in zip(names, (p50, last_month, three_months, stage_weighted), strict=True):
                forecasts[name].append(value)
            actuals.append(actual)
            bands.append((p10, p90))
            print(f"{cutoff!s:<11} {actual:>10,.0f} {p10:>10,.0f} {p50:>10,.0f} {p90:>10,.0f} {last_month:>10,.0f} "
                  f"{three_months:>10,.0f} {stage_weighted:>10,.0f} {len(deals):>5}")

    print(f"\nforecast of the next {HORIZON} days' won value at {len(cutoffs)} month-end cut-offs")
    print(f"{'method':<26} {'WAPE':>7} {'MAPE':>7}")
    for name in names:
        f = forecasts[name]
        wape = sum(abs(a - b) for a, b in zip(f, actuals, strict=True)) / sum(actuals)
        mape = sum(abs(a - b) / b for a, b in zip(f, actuals, strict=True)) / len(actuals)
        print(f"{name:<26} {wape:>7.3f} {mape:>7.3f}")
    inside = sum(lo <= a <= hi for (lo, hi), a in zip(bands, actuals, strict=True))
    print(f"P10-P90 band coverage: {inside / len(actuals):.2f} ({inside} of {len(actuals)}; 0.80 is calibrated)")
    print(f"\nopen deals' win within {HORIZON} days: {len(deal_pairs['product'])} deal-cut-off pairs, "
          f"{sum(y for _, y in deal_pairs['product'])} positive")
    print(f"{'probability':<26} {'Brier':>7}")
    for name, pairs in deal_pairs.items():
        print(f"{name:<26} {brier(pairs):>7.4f}")
    ok = [math.isfinite(brier(p)) for p in deal_pairs.values()]
    print(f"\nlatency: api.forecast_revenue p50 {pct(forecast_seconds, 0.5):.0f} ms, "
          f"api.predict_open_deals p50 {pct(deal_seconds, 0.5):.0f} ms (1,500-2,600 open deals)")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())

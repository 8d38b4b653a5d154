"""Lead scoring benchmark: quality on public data through the product's own path, and costs.

Quality: on ../shared/data/bank-marketing (UCI, without `duration`, which is known only after the
call), 5-fold stratified ROC AUC and Brier score of the product's path -- CSV import (training
folds with their outcome, the test fold without: open leads), the train_scoring_model job's
function, then the probabilities SQL stored in lead_scores -- beside scikit-learn logistic
regression and HistGradientBoosting trained on the same folds in the same run. No column name of
the file is known to the product: every column other than the outcome becomes a typed attribute.

Costs: activity inserts with and without the scoring triggers, re-scoring N leads (leads/s),
api.explain_lead_score and api.get_lead_intelligence p50/p95 at N leads, training time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
from _bench import bench_database, pct
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from salesflow.functions.scoring import train_org_async
from salesflow.intelligence_cli import import_leads

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bank-marketing" / "bank-additional-full.csv"
LEAKS = {"duration"}  # known only after the outcome (the data set's own description)
OUTCOME = "y"


def load(path: Path) -> tuple[list[str], list[list[str]], np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    header, body = rows[0], rows[1:]
    keep = [i for i, h in enumerate(header) if h not in LEAKS and h != OUTCOME]
    y = np.array([r[header.index(OUTCOME)] == "yes" for r in body], dtype=int)
    return [header[i] for i in keep], [[r[i] for i in keep] for r in body], y


def baselines(header: list[str], body: list[list[str]], y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> dict:
    def is_num(j: int) -> bool:
        try:
            [float(r[j]) for r in body[:500]]
            return True
        except ValueError:
            return False
    num = [j for j in range(len(header)) if is_num(j)]
    cat = [j for j in range(len(header)) if j not in num]
    x = np.array(body, dtype=object)
    xn = x[:, num].astype(float)
    codes = np.column_stack([np.unique(x[:, j], return_inverse=True)[1] for j in cat])
    lr = make_pipeline(ColumnTransformer([("n", StandardScaler(), list(range(len(num)))),
                                          ("c", OneHotEncoder(handle_unknown="ignore"),
                                           list(range(len(num), len(num) + len(cat))))]),
                       LogisticRegression(max_iter=2000))
    xa = np.column_stack([xn, codes]).astype(float)
    out = {}
    p = lr.fit(xa[tr], y[tr]).predict_proba(xa[te])[:, 1]
    out["sklearn LogisticRegression"] = (roc_auc_score(y[te], p), brier_score_loss(y[te], p))
    hgb = HistGradientBoostingClassifier(categorical_features=[False] * len(num) + [True] * len(cat), random_state=42)
    p = hgb.fit(xa[tr], y[tr]).predict_proba(xa[te])[:, 1]
    out["sklearn HistGradientBoosting"] = (roc_auc_score(y[te], p), brier_score_loss(y[te], p))
    return out


def product_fold(header: list[str], body: list[list[str]], y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> dict:
    with bench_database("sf-bench-scoring-") as (url, org, home):
        path = home / "leads.csv"
        test = set(te.tolist())
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["lead_key", "first_name", *header, "outcome"])
            for i, r in enumerate(body):
                w.writerow([f"row-{i}", f"Lead {i}", *r, "" if i in test else ("yes" if y[i] else "no")])
        t = time.monotonic()
        import_leads(url, path, str(org), {"lead_key": "external_key"}, "outcome", None, False,
                     err=open("/dev/null", "w"))
        t_import = time.monotonic() - t

        async def train() -> dict:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                return await train_org_async(conn, org)
        t = time.monotonic()
        result = asyncio.run(train())
        t_train = time.monotonic() - t
        with psycopg.connect(url) as conn:
            scores = dict(conn.execute(
                "select l.external_key, s.probability from salesflow.lead_scores as s "
                "join salesflow.leads as l on l.org_id = s.org_id and l.id = s.lead_id "
                "where s.org_id = %s and s.model_id is not null", (org,)).fetchall())
        p = np.array([scores[f"row-{i}"] for i in te])
        return {"auc": roc_auc_score(y[te], p), "brier": brier_score_loss(y[te], p), "import_s": t_import,
                "train_s": t_train, "learner": result.get("learner")}


def quality(folds: int) -> None:
    header, body, y = load(DATA)
    print(f"bank-marketing: {len(body)} rows, {len(header)} columns (without {sorted(LEAKS)}), "
          f"{y.mean():.2%} positive; {folds}-fold stratified, seed 42")
    skf = StratifiedKFold(folds, shuffle=True, random_state=42)
    results: dict[str, list[tuple[float, float]]] = {}
    extra = []
    for k, (tr, te) in enumerate(skf.split(body, y)):
        prod = product_fold(header, body, y, tr, te)
        results.setdefault("SalesFlow (import -> train job -> SQL)", []).append((prod["auc"], prod["brier"]))
        extra.append(prod)
        for name, v in baselines(header, body, y, tr, te).items():
            results.setdefault(name, []).append(v)
        print(f"  fold {k + 1}: SalesFlow AUC {prod['auc']:.4f} ({prod['learner']}), import {prod['import_s']:.1f} s, "
              f"train {prod['train_s']:.1f} s", flush=True)
    print(f"{'model':42s} {'ROC AUC':>8s} {'Brier':>8s}")
    for name, v in results.items():
        print(f"{name:42s} {np.mean([a for a, _ in v]):8.4f} {np.mean([b for _, b in v]):8.4f}")
    print(f"training time (train job, mean per fold): {np.mean([e['train_s'] for e in extra]):.1f} s; "
          f"import of {len(body)} rows: {np.mean([e['import_s'] for e in extra]):.1f} s")


def costs(n: int, samples: int) -> None:
    rng = random.Random(42)
    with bench_database("sf-bench-scoring-cost-") as (url, org, home):
        path = home / "leads.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["email", "segment", "employees", "vip", "outcome"])
            for i in range(n):
                seg = rng.choice(["smb", "mid", "ent"])
                vip = rng.random() < 0.2
                conv = rng.random() < 0.05 + 0.1 * vip + 0.05 * (seg == "ent")
                w.writerow([f"l{i}@example.com", seg, rng.randint(1, 5000), "yes" if vip else "no",
                            "" if rng.random() < 0.5 else ("yes" if conv else "no")])
        t = time.monotonic()
        import_leads(url, path, str(org), {}, "outcome", None, False, err=open("/dev/null", "w"))
        print(f"import of {n} leads: {time.monotonic() - t:.1f} s ({n / (time.monotonic() - t):,.0f} rows/s)")

        async def train() -> dict:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                return await train_org_async(conn, org)
        result = asyncio.run(train())
        print(f"training at {n} leads: {result.get('seconds')} s ({result.get('learner')}), "
              f"re-scored {result.get('rescored')} leads after activation")
        with psycopg.connect(url, autocommit=True) as conn:
            t = time.monotonic()
            k = conn.execute("select salesflow.rescore_org(%s)", (org,)).fetchone()[0]
            dt = time.monotonic() - t
            print(f"re-score {k} leads: {dt:.1f} s ({k / dt:,.0f} leads/s)")
            leads = [r[0] for r in conn.execute("select id from salesflow.leads where org_id = %s", (org,))]
            owner = uuid.uuid4()
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')",
                         (org, owner))

            def insert_activities(count: int) -> float:
                ids = rng.sample(leads, count)
                t = time.monotonic()
                with conn.transaction():
                    for lead in ids:
                        conn.execute("insert into salesflow.activities (org_id, lead_id, kind, direction) "
                                     "values (%s, %s, 'call', 'outbound')", (org, lead))
                return time.monotonic() - t
            names = ["activities_rescore_insert"]
            on = [insert_activities(500) for _ in range(3)]
            for name in names:
                conn.execute(f"alter table salesflow.activities disable trigger {name}")
            off = [insert_activities(500) for _ in range(3)]
            for name in names:
                conn.execute(f"alter table salesflow.activities enable trigger {name}")
            print(f"500 single-row activity inserts: with scoring trigger {min(on):.3f} s, without {min(off):.3f} s "
                  f"(+{(min(on) / min(off) - 1):.0%})")
            batch = [(org, rng.choice(leads)) for _ in range(5000)]
            for label, enable in (("with", True), ("without", False)):
                if not enable:
                    conn.execute("alter table salesflow.activities disable trigger activities_rescore_insert")
                t = time.monotonic()
                with conn.transaction():
                    with conn.cursor().copy("copy salesflow.activities (org_id, lead_id, kind, direction) "
                                            "from stdin") as cp:
                        for o, lead in batch:
                            cp.write_row((o, lead, "call", "outbound"))
                print(f"COPY of 5000 activities {label} scoring trigger: {time.monotonic() - t:.3f} s")
            conn.execute("alter table salesflow.activities enable trigger activities_rescore_insert")
            import json
            claims = json.dumps({"role": "authenticated", "sub": str(owner)})
            for rpc in ("explain_lead_score", "get_lead_intelligence"):
                times = []
                for lead in rng.sample(leads, samples):
                    with conn.transaction():
                        conn.execute("set local role authenticated")
                        conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                        t = time.monotonic()
                        conn.execute(f"select api.{rpc}(%s, %s)", (org, lead)).fetchone()
                        times.append(time.monotonic() - t)
                print(f"api.{rpc} at {n} leads: p50 {pct(times, 0.5):.1f} ms, p95 {pct(times, 0.95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-costs", action="store_true")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args.folds)
    if not args.skip_costs:
        costs(args.leads, args.samples)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

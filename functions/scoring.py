"""Training a lead-conversion model for one organisation: the `train_scoring_model` job's work.

Reads point-in-time features through the same SQL function that scores leads, trains the measured
best additive learner (functions/scoring_model.py), stores it as bin tables, and activates it only
when it beats the active model on the same hold-out leads and passes the bias check.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from salesflow.db.queries import query
from salesflow.functions import scoring_model as sm

HOLDOUT_BUCKETS = 5  # one lead in five, by a hash of its id, is held out for evaluation


def in_holdout(lead_id: UUID) -> bool:
    return hashlib.sha256(str(lead_id).encode()).digest()[0] % HOLDOUT_BUCKETS == 0


async def fetch_features(conn: psycopg.AsyncConnection[Any], org: UUID | str, leads: list[UUID],
                         as_of: list[datetime]) -> dict[str, tuple[list[Any], list[Any]]]:
    """feature -> (numbers, categories), each a list aligned with `leads`."""
    pos = {lead: i for i, lead in enumerate(leads)}
    n = len(leads)
    columns: dict[str, tuple[list[Any], list[Any]]] = {}
    cur = conn.cursor()
    async with cur.copy(
        "copy (select lead_id, feature, num_value, cat_value from salesflow.lead_features("
        "%s, %s::uuid[], %s::timestamptz[])) to stdout", (org, leads, as_of)
    ) as copy:
        copy.set_types(["uuid", "text", "float8", "text"])
        async for lead_id, feature, num, cat in copy.rows():
            col = columns.get(feature)
            if col is None:
                col = columns[feature] = ([None] * n, [None] * n)
            i = pos[lead_id]
            col[0][i] = num
            col[1][i] = cat
    return columns


def _table_rows(trained: sm.Trained) -> list[dict[str, Any]]:
    rows = []
    for spec, table in zip(trained.specs, trained.tables, strict=True):
        by_code = table["by_code"]
        if spec.value_type == "number":
            contributions, other = by_code, 0.0
        else:
            contributions, other = by_code[:-1], by_code[-1]
        rows.append({"feature": spec.name, "value_type": spec.value_type,
                     "edges": spec.edges if spec.value_type == "number" else None,
                     "categories": spec.categories if spec.value_type == "category" else None,
                     "contributions": contributions, "missing": table["missing"], "other": other})
    return rows


async def train_org_async(conn: psycopg.AsyncConnection[Any], org: UUID | str, cutoff: datetime | None = None,
                          force: bool = False, keep_model: bool = False) -> dict[str, Any]:
    """Train, store and (when it wins) activate a model for `org`; returns what happened."""
    started = time.monotonic()
    cutoff = cutoff or datetime.now(UTC)
    cur = conn.cursor(row_factory=dict_row)
    settings = await (await cur.execute(query("scoring_settings"), {"org": org})).fetchone()
    if settings is None:
        return {"trained": False, "reason": "organisation not found"}
    rows = await (await cur.execute(query("training_leads"), {"org": org, "cutoff": cutoff})).fetchall()
    y = np.array([r["y"] for r in rows], dtype=np.int64)
    conversions = int(y.sum()) if len(y) else 0
    if not force and (len(rows) < settings["min_leads"] or conversions < settings["min_conversions"]):
        # the prior moves with the outcomes that arrived since: refresh it on every lead
        await cur.execute("select salesflow.rescore_org(%(org)s)", {"org": org})
        return {"trained": False, "reason": (
            f"not enough data: {len(rows)} decided leads and {conversions} conversions; a per-organisation model "
            f"needs {settings['min_leads']} and {settings['min_conversions']} (scores use the prior until then)"),
            "leads": len(rows), "conversions": conversions}
    leads = [r["lead_id"] for r in rows]
    as_of = [r["as_of"] for r in rows]
    columns = await fetch_features(conn, org, leads, as_of)
    hold = np.array([in_holdout(x) for x in leads])
    if hold.all() or (~hold).all() or len(np.unique(y[~hold])) < 2:
        return {"trained": False, "reason": "too few leads to hold some out"}
    train_idx, hold_idx = np.flatnonzero(~hold), np.flatnonzero(hold)
    train_cols = {k: ([v[0][i] for i in train_idx], [v[1][i] for i in train_idx]) for k, v in columns.items()}
    min_count = max(10, len(train_idx) // 500)
    specs = sm.fit_specs(train_cols, min_count)
    codes = sm.encode(specs, columns, len(leads))

    trained = await asyncio.to_thread(sm.train, codes[train_idx], y[train_idx], specs)
    p_hold = trained.predict_proba(codes[hold_idx])
    metrics = sm.metrics(y[hold_idx], p_hold)
    metrics["cross_validated_auc"] = trained.measured
    sensitive = [r["name"] for r in await (await cur.execute(query("sensitive_attributes"), {"org": org})).fetchall()]
    segments = {}
    for name in sensitive:
        col = columns.get(f"attr.{name}")
        # (a sensitive attribute excluded from scoring is still reported: read it from the leads)
        values = col[1] if col and any(v is not None for v in col[1]) else (col[0] if col else None)
        if values is None:
            attrs = {r["lead_id"]: r["attributes"] for r in await (await cur.execute(
                query("lead_attributes"), {"org": org, "leads": [leads[i] for i in hold_idx]})).fetchall()}
            segments[name] = [attrs.get(leads[i], {}).get(name) for i in hold_idx]
        else:
            segments[name] = [values[i] for i in hold_idx]
    bias = sm.bias_report(y[hold_idx], p_hold, segments, threshold=float(y[train_idx].mean()),
                          max_difference=settings["max_bias_difference"])

    active = await (await cur.execute(query("active_model"), {"org": org})).fetchone()
    champion_auc = None
    if active is not None and metrics.get("roc_auc") is not None:
        scored = dict((r["lead_id"], r["log_odds"]) for r in await (await cur.execute(query("model_log_odds"), {
            "org": org, "model": active["id"], "leads": [leads[i] for i in hold_idx],
            "as_of": [as_of[i] for i in hold_idx]})).fetchall())
        champion = np.array([scored[leads[i]] for i in hold_idx])
        champion_auc = float(sm.roc_auc_score(y[hold_idx], champion))
    metrics["champion_auc"] = champion_auc
    wins = champion_auc is None or metrics.get("roc_auc", 0) > champion_auc
    activate = wins and not bias["flagged"]
    decision = ("activated: " + ("no active model" if champion_auc is None
                                 else f"hold-out AUC {metrics['roc_auc']:.4f} > champion {champion_auc:.4f}")
                if activate else
                "not activated: " + ("bias check flagged it" if bias["flagged"]
                                     else f"hold-out AUC {metrics['roc_auc']:.4f} <= champion {champion_auc:.4f}"))
    importance = {s.name: float(np.abs(np.array(t["by_code"] + [t["missing"]])).max())
                  for s, t in zip(specs, trained.tables, strict=True)}
    card = {
        "intended_use": "Rank open leads of this organisation by their chance to convert (reach customer or win a "
                        "deal), and explain each score factor by factor. Not for decisions about people without "
                        "a human review; not valid for other organisations or populations.",
        "data": {"decided_leads": len(rows), "conversions": conversions, "holdout_leads": int(len(hold_idx)),
                 "cutoff": cutoff.isoformat(), "features": len(specs)},
        "learner": {"chosen": trained.learner.name, "settings": trained.learner.settings(),
                    "cross_validated_auc": trained.measured},
        "limits": "Attributes are read as they are now, behaviour as of the cut-off; attributes recorded after "
                  "the outcome must be excluded by the organisation. Scores of leads unlike the training data "
                  "(new sources, markets) are less reliable.",
    }
    async with conn.transaction():
        model = await (await cur.execute(query("insert_model"), {
            "org": org, "learner": trained.learner.name, "library_versions": Jsonb(sm.library_versions()),
            "cutoff": cutoff, "training_rows": int(len(train_idx)), "training_conversions": int(y[train_idx].sum()),
            "intercept": trained.intercept, "metrics": Jsonb(metrics), "bias_report": Jsonb(bias),
            "bias_flagged": bool(bias["flagged"]), "card": Jsonb(card)})).fetchone()
        for row in _table_rows(trained):
            await cur.execute(query("insert_feature"), {"org": org, "model": model["id"], **row,
                                                    "importance": importance[row["feature"]]})
        rescored = (await (await cur.execute(query("decide_model"), {
            "org": org, "model": model["id"], "activate": activate, "decision": decision})).fetchone())["rescored"]
    extra = {"model": trained, "specs": specs} if keep_model else {}
    return {**extra, "trained": True, "model_id": str(model["id"]), "version": model["version"], "activated": activate,
            "decision": decision, "learner": trained.learner.name, "holdout_auc": metrics.get("roc_auc"),
            "brier": metrics.get("brier"), "rescored": rescored, "seconds": round(time.monotonic() - started, 2)}


def train_org(conn: psycopg.Connection, org: str) -> dict[str, Any]:
    """Synchronous entry for the CLI: the same work on a connection of its own."""

    async def run() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conn.info.dsn, password=conn.info.password,
                                                         autocommit=True) as aconn:
            return await train_org_async(aconn, org)

    return asyncio.run(run())


def card_markdown(card: dict[str, Any]) -> str:
    """A model card as Markdown (salesflow scoring card)."""
    m = card.get("metrics", {})
    lines = [f"# Model card: {card.get('name')} v{card.get('version')} ({card.get('status')})", "",
             f"Learner: {card.get('learner')}; libraries: {card.get('library_versions')}", "",
             "## Intended use", card.get("card", {}).get("intended_use", ""), "",
             "## Data", *(f"- {k}: {v}" for k, v in card.get("card", {}).get("data", {}).items()), "",
             "## Metrics (hold-out)",
             *(f"- {k}: {m[k]:.4f}" for k in ("roc_auc", "log_loss", "brier", "top_decile_lift", "calibration_error")
               if isinstance(m.get(k), float)), "",
             "## Bias check",
             *(f"- {a}: demographic parity difference {r['demographic_parity_difference']:.3f}, equal opportunity "
               f"difference {r['equal_opportunity_difference']:.3f}{' (flagged)' if r['flagged'] else ''}"
               for a, r in card.get("bias_report", {}).get("attributes", {}).items()), "",
             "## Limits", card.get("card", {}).get("limits", ""), "",
             f"Decision: {card.get('decision')}"]
    return "\n".join(lines)

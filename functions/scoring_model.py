"""The conversion model: features encoded into bins, two additive learners measured against each
other, and the winner tabulated as exact per-bin contributions to a calibrated log-odds.

Both learners are additive in the binned features (logistic regression on one-hot bins, and
scikit-learn's HistGradientBoosting with every tree restricted to one feature), so a model is one
step function per feature: SQL evaluates it by table lookup (sql/objects/71_scoring.sql), and the
contributions of a lead's features add up to its log-odds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import OneHotEncoder

MAX_NUMERIC_BINS = 32
MAX_CATEGORIES = 50
MISSING = -1


@dataclass
class FeatureSpec:
    """How one feature becomes an integer code: -1 missing, then bins or categories (last: other)."""

    name: str
    value_type: str  # number | category
    edges: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)

    @property
    def n_codes(self) -> int:
        return len(self.edges) + 1 if self.value_type == "number" else len(self.categories) + 1

    def encode(self, values: list[Any]) -> np.ndarray:
        out = np.full(len(values), MISSING, dtype=np.int64)
        if self.value_type == "number":
            arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
            ok = ~np.isnan(arr)
            out[ok] = np.searchsorted(np.array(self.edges, dtype=float), arr[ok], side="right")
        else:
            index = {c: i for i, c in enumerate(self.categories)}
            other = len(self.categories)
            for i, v in enumerate(values):
                if v is not None:
                    out[i] = index.get(v, other)
        return out


def fit_specs(columns: dict[str, tuple[list[Any], list[Any]]], min_category_count: int) -> list[FeatureSpec]:
    """Bins from the training rows: quantile edges for numbers, frequent values for categories."""
    specs = []
    for name in sorted(columns):
        nums, cats = columns[name]
        if any(c is not None for c in cats):
            values, counts = np.unique(np.array([c for c in cats if c is not None], dtype=object), return_counts=True)
            order = np.argsort(-counts, kind="stable")
            kept = [str(values[i]) for i in order[:MAX_CATEGORIES] if counts[i] >= min_category_count]
            spec = FeatureSpec(name, "category", categories=sorted(kept))
            if len(kept) == 0 and all(c is not None for c in cats):
                continue
        else:
            arr = np.array([v for v in nums if v is not None], dtype=float)
            if arr.size == 0:
                continue
            distinct = np.unique(arr)
            if distinct.size <= MAX_NUMERIC_BINS:
                edges = distinct[1:]
            else:
                edges = np.unique(np.quantile(arr, np.linspace(0, 1, MAX_NUMERIC_BINS + 1)[1:-1]))
            spec = FeatureSpec(name, "number", edges=[float(e) for e in edges])
            if len(spec.edges) == 0 and arr.size == len(nums):
                continue  # one value and never missing: nothing to learn
        specs.append(spec)
    return specs


def encode(specs: list[FeatureSpec], columns: dict[str, tuple[list[Any], list[Any]]], n: int) -> np.ndarray:
    out = np.empty((n, len(specs)), dtype=np.int64)
    for j, s in enumerate(specs):
        nums, cats = columns.get(s.name, ([None] * n, [None] * n))
        out[:, j] = s.encode(cats if s.value_type == "category" else nums)
    return out


class Learner:
    """An additive learner over the integer codes; raw() is its log-odds (decision function)."""

    name = ""

    def fit(self, codes: np.ndarray, y: np.ndarray, specs: list[FeatureSpec]) -> Learner:
        raise NotImplementedError

    def raw(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {}


class BinnedLogistic(Learner):
    name = "logistic_regression_binned"

    def __init__(self, c: float = 0.1) -> None:
        self.c = c

    def fit(self, codes: np.ndarray, y: np.ndarray, specs: list[FeatureSpec]) -> BinnedLogistic:
        self.encoder = OneHotEncoder(categories=[list(range(MISSING, s.n_codes)) for s in specs],
                                     handle_unknown="ignore")
        self.model = LogisticRegression(C=self.c, max_iter=5000).fit(self.encoder.fit_transform(codes), y)
        return self

    def raw(self, codes: np.ndarray) -> np.ndarray:
        return self.model.decision_function(self.encoder.transform(codes))

    def settings(self) -> dict[str, Any]:
        return {"C": self.c}


class AdditiveBoosting(Learner):
    name = "hist_gradient_boosting_additive"

    def fit(self, codes: np.ndarray, y: np.ndarray, specs: list[FeatureSpec]) -> AdditiveBoosting:
        n = codes.shape[1]
        self.model = HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=300, max_leaf_nodes=8, l2_regularization=1.0, early_stopping=True,
            interaction_cst=[[j] for j in range(n)], categorical_features=[s.value_type == "category" for s in specs],
            random_state=0,
        ).fit(self._x(codes), y)
        return self

    @staticmethod
    def _x(codes: np.ndarray) -> np.ndarray:
        x = codes.astype(float)
        x[codes == MISSING] = np.nan
        return x

    def raw(self, codes: np.ndarray) -> np.ndarray:
        return self.model.decision_function(self._x(codes))

    def settings(self) -> dict[str, Any]:
        return {"n_iter": int(self.model.n_iter_), "max_leaf_nodes": 8, "learning_rate": 0.1}


def candidates() -> list[Learner]:
    return [BinnedLogistic(0.1), AdditiveBoosting()]


@dataclass
class Trained:
    specs: list[FeatureSpec]
    learner: Learner
    platt: LogisticRegression
    intercept: float
    tables: list[dict[str, Any]]  # per feature: contributions (by code), missing, other
    measured: dict[str, float]  # learner name -> cross-validated AUC on the training rows

    def raw(self, codes: np.ndarray) -> np.ndarray:
        return self.learner.raw(codes)

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        """The library's calibrated probability: learner decision function, then the Platt step."""
        return self.platt.predict_proba(self.raw(codes).reshape(-1, 1))[:, 1]


def train(codes: np.ndarray, y: np.ndarray, specs: list[FeatureSpec], folds: int = 3) -> Trained:
    """Measure every candidate by cross-validated AUC, keep the best, calibrate it, tabulate it."""
    skf = StratifiedKFold(folds, shuffle=True, random_state=0)
    measured: dict[str, float] = {}
    oof_by: dict[str, np.ndarray] = {}
    for proto in candidates():
        oof = np.zeros(len(y))
        for tr, te in skf.split(codes, y):
            learner = type(proto)().fit(codes[tr], y[tr], specs)
            oof[te] = learner.raw(codes[te])
        measured[proto.name] = float(roc_auc_score(y, oof))
        oof_by[proto.name] = oof
    best = max(candidates(), key=lambda c: measured[c.name])
    learner = type(best)().fit(codes, y, specs)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof_by[best.name].reshape(-1, 1), y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])

    base = np.full((1, len(specs)), MISSING, dtype=np.int64)
    f0 = float(learner.raw(base)[0])
    tables, intercept_raw = [], f0
    for j, s in enumerate(specs):
        domain = np.arange(MISSING, s.n_codes)
        grid = np.repeat(base, len(domain), axis=0)
        grid[:, j] = domain
        delta = learner.raw(grid) - f0  # this feature's step function, 0 at "missing"
        mean = float(delta[codes[:, j] - MISSING].mean())
        centred = (delta - mean) * a
        intercept_raw += mean
        tables.append({"missing": float(centred[0]), "by_code": [float(x) for x in centred[1:]]})
    return Trained(specs, learner, platt, a * intercept_raw + b, tables, measured)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Hold-out figures: ROC AUC, log loss, Brier, lift in the top decile, a 10-bin calibration table."""
    out: dict[str, Any] = {"rows": int(len(y)), "positives": int(y.sum())}
    if len(np.unique(y)) < 2:
        return out
    order = np.argsort(-p, kind="stable")
    top = order[: max(1, len(y) // 10)]
    edges = np.quantile(p, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, 9)
    table = [{"bin": int(k), "predicted": float(p[bins == k].mean()), "observed": float(y[bins == k].mean()),
              "rows": int((bins == k).sum())} for k in range(10) if (bins == k).any()]
    out.update(roc_auc=float(roc_auc_score(y, p)), log_loss=float(log_loss(y, p, labels=[0, 1])),
               brier=float(brier_score_loss(y, p)), top_decile_lift=float(y[top].mean() / max(y.mean(), 1e-12)),
               calibration=table,
               calibration_error=float(sum(t["rows"] * abs(t["predicted"] - t["observed"]) for t in table) / len(y)))
    return out


def bias_report(y: np.ndarray, p: np.ndarray, segments: dict[str, list[Any]], threshold: float,
                max_difference: float) -> dict[str, Any]:
    """Per sensitive attribute and segment: rate predicted positive (p >= threshold), observed rate,
    AUC, mean predicted probability; demographic parity difference = spread of the predicted
    positive rates, equal opportunity difference = spread of the true positive rates. A model
    whose spread exceeds max_difference on any attribute is flagged."""
    report: dict[str, Any] = {"threshold": threshold, "max_difference": max_difference, "attributes": {},
                              "flagged": False}
    predicted = p >= threshold
    for attr, values in segments.items():
        seg = np.array(["(missing)" if v is None else str(v) for v in values], dtype=object)
        rows = []
        for value in sorted(set(seg)):
            m = seg == value
            pos = m & (y == 1)
            rows.append({
                "segment": value, "rows": int(m.sum()), "positive_rate": float(predicted[m].mean()),
                "observed_rate": float(y[m].mean()), "mean_probability": float(p[m].mean()),
                "true_positive_rate": float(predicted[pos].mean()) if pos.any() else None,
                "roc_auc": float(roc_auc_score(y[m], p[m])) if len(np.unique(y[m])) == 2 else None,
            })
        rates = [r["positive_rate"] for r in rows]
        tprs = [r["true_positive_rate"] for r in rows if r["true_positive_rate"] is not None]
        dp = float(max(rates) - min(rates)) if rates else 0.0
        eo = float(max(tprs) - min(tprs)) if tprs else 0.0
        flagged = dp > max_difference or eo > max_difference
        report["attributes"][attr] = {"segments": rows, "demographic_parity_difference": dp,
                                      "equal_opportunity_difference": eo, "flagged": flagged}
        report["flagged"] = report["flagged"] or flagged
    return report


def library_versions() -> dict[str, str]:
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__}

"""Plain-language search questions to structured filters, without a model (English and German).

A deterministic baseline, stated as such: it reads the common patterns (amounts such as "over
50k" / "über 50.000 €", periods such as "this quarter" / "nächsten Monat" / "Q3", stage names,
"my deals", a company after "at"/"bei", a competitor mention) and says what it understood; what
it does not read stays in the question, which the semantic memory search still gets. The
filters are those of `api.search_deals`; the API runs them as the caller.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

OPEN_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
_UNITS = {"k": 1e3, "tsd": 1e3, "tausend": 1e3, "thousand": 1e3, "m": 1e6, "mio": 1e6, "million": 1e6,
          "millionen": 1e6, "mn": 1e6}
_NUMBER = (r"(?:€|eur|usd|\$)?\s*(\d[\d.,']*)\s*(k|tsd\.?|tausend|thousand|mio\.?|millionen|million|mn|m)?\b"
           r"\s*(?:€|eur|euro|usd|\$)?")
_OVER = r"(?:over|above|more than|greater than|at least|min(?:imum)?|>=?|über|mehr als|ab|mindestens|größer als)"
_UNDER = r"(?:under|below|less than|at most|max(?:imum)?|<=?|unter|weniger als|bis|höchstens|kleiner als)"
_BETWEEN = re.compile(rf"\b(?:between|zwischen)\s+{_NUMBER}\s+(?:and|und|-)\s+{_NUMBER}", re.IGNORECASE)
_MIN = re.compile(rf"(?<!\w){_OVER}\s+{_NUMBER}", re.IGNORECASE)
_MAX = re.compile(rf"(?<!\w){_UNDER}\s+{_NUMBER}", re.IGNORECASE)
_STAGES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), stages) for pattern, stages in (
        (r"\b(?:prospecting|akquise|neue? (?:deals?|chancen))\b", ("prospecting",)),
        (r"\b(?:qualification|qualifi(?:ed|zierung|ziert))\b", ("qualification",)),
        (r"\b(?:proposals?|angebot(?:e|sphase)?)\b", ("proposal",)),
        (r"\b(?:negotiat\w*|verhandlung\w*)\b", ("negotiation",)),
        (r"\b(?:won|gewonnen\w*|closed[- ]won)\b", ("closed_won",)),
        (r"\b(?:lost|verloren\w*|closed[- ]lost)\b", ("closed_lost",)),
        (r"\b(?:open|offen\w*|pipeline)\b", OPEN_STAGES),
    ))
_MINE = re.compile(r"\b(?:my|mine|meine[nmrs]?)\b", re.IGNORECASE)
_COMPETITOR_ANY = re.compile(
    r"\b(?:competitors?|competition|rivals?|wettbewerb\w*|konkurren\w*|mitbewerb\w*)\b", re.IGNORECASE)
_COMPETITOR_NAMED = re.compile(
    r"\b(?:against|versus|vs\.?|gegen|competitor|wettbewerber|konkurrent)\s+([A-Z][\w&.-]{1,60})")
_COMPANY = re.compile(r"\b(?:at|bei|from|von)\s+([A-Z][\w&.-]{1,60}(?:\s+(?:GmbH|AG|Inc\.?|Ltd\.?|SE|KG))?)")
_NEXT_DAYS = re.compile(r"\b(?:next|in the next|within|nächsten|in den nächsten|innerhalb von)\s+(\d{1,3})\s+"
                        r"(?:days|tagen?)\b", re.IGNORECASE)
_QUARTER = re.compile(r"\bQ([1-4])(?:\s*[/ ]?\s*(20\d\d))?\b", re.IGNORECASE)
_PERIODS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.IGNORECASE), k) for p, k in (
    (r"\b(?:this|current) quarter\b|\b(?:dieses|diesem|laufenden?) quartals?\b", "this_quarter"),
    (r"\bnext quarter\b|\bnächste[nms]? quartals?\b", "next_quarter"),
    (r"\blast quarter\b|\bletzte[nms]? quartals?\b|\bvorquartal\b", "last_quarter"),
    (r"\b(?:this|current) month\b|\bdiese[nms]? monats?\b", "this_month"),
    (r"\bnext month\b|\bnächste[nms]? monats?\b", "next_month"),
    (r"\b(?:this|current) year\b|\bdiese[nms]? jahr(?:es)?\b", "this_year"),
    (r"\bnext year\b|\bnächste[nms]? jahr(?:es)?\b", "next_year"),
    (r"\b(?:this|current) week\b|\bdiese[nr]? woche\b", "this_week"),
))


@dataclass
class Interpretation:
    """What the question was understood to ask, as api.search_deals filters, and how."""

    entity: str = "deals"
    stages: list[str] | None = None
    owner: str | None = None  # "me": the caller's own deals
    min_amount: float | None = None
    max_amount: float | None = None
    close_from: date | None = None
    close_to: date | None = None
    competitor: str | None = None  # a name, or "*" for any recorded competitor
    company: str | None = None
    understood: list[str] = field(default_factory=list)  # the phrases each filter came from
    method: str = "offline_rules"
    request_id: int | None = None  # the logged call, when a model read the question

    def filters(self) -> dict[str, Any]:
        meta = ("understood", "method", "entity", "request_id")
        return {k: v for k, v in asdict(self).items() if k not in meta and v is not None}

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("close_from", "close_to"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out


def parse_amount(number: str, unit: str | None) -> float | None:
    """'50k' -> 50000, '50.000' -> 50000, '1,5 Mio' -> 1500000, '2.5m' -> 2500000."""
    digits = number.strip().rstrip(".,'").replace("'", "")
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", digits):
        value = float(re.sub(r"[.,]", "", digits))  # thousands separators: 50.000 / 50,000
    else:
        value = float(digits.replace(",", ".")) if re.fullmatch(r"\d+(?:[.,]\d+)?", digits) else None
    if value is None:
        return None
    return value * _UNITS.get((unit or "").lower().rstrip("."), 1.0)


def _quarter(year: int, q: int) -> tuple[date, date]:
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + (q == 4), (3 * q) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def _month(year: int, month: int) -> tuple[date, date]:
    end = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return date(year, month, 1), end


def _period(kind: str, today: date) -> tuple[date, date]:
    q = (today.month - 1) // 3 + 1
    if kind == "this_quarter":
        return _quarter(today.year, q)
    if kind == "next_quarter":
        return _quarter(today.year + (q == 4), q % 4 + 1)
    if kind == "last_quarter":
        return _quarter(today.year - (q == 1), (q - 2) % 4 + 1)
    if kind == "this_month":
        return _month(today.year, today.month)
    if kind == "next_month":
        return _month(today.year + (today.month == 12), today.month % 12 + 1)
    if kind == "this_year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    if kind == "next_year":
        return date(today.year + 1, 1, 1), date(today.year + 1, 12, 31)
    start = today - timedelta(days=today.weekday())
    return start, start + timedelta(days=6)


def parse_question(question: str, today: date) -> Interpretation:
    """The filters the question asks for, read by rules; an unmatched question yields no filters."""
    text = " ".join(question.split())
    out = Interpretation()
    if m := _BETWEEN.search(text):
        low, high = parse_amount(m.group(1), m.group(2)), parse_amount(m.group(3), m.group(4))
        if low is not None and high is not None:
            out.min_amount, out.max_amount = min(low, high), max(low, high)
            out.understood.append(m.group(0))
    else:
        if (m := _MIN.search(text)) and (value := parse_amount(m.group(1), m.group(2))) is not None:
            out.min_amount = value
            out.understood.append(m.group(0).strip())
        if (m := _MAX.search(text)) and (value := parse_amount(m.group(1), m.group(2))) is not None:
            out.max_amount = value
            out.understood.append(m.group(0).strip())
    if m := _NEXT_DAYS.search(text):
        out.close_from, out.close_to = today, today + timedelta(days=int(m.group(1)))
        out.understood.append(m.group(0))
    elif m := _QUARTER.search(text):
        out.close_from, out.close_to = _quarter(int(m.group(2) or today.year), int(m.group(1)))
        out.understood.append(m.group(0))
    else:
        for pattern, kind in _PERIODS:
            if m := pattern.search(text):
                out.close_from, out.close_to = _period(kind, today)
                out.understood.append(m.group(0))
                break
    stages: list[str] = []
    for pattern, names in _STAGES:
        if m := pattern.search(text):
            stages += [s for s in names if s not in stages]
            out.understood.append(m.group(0))
    out.stages = stages or None
    if m := _MINE.search(text):
        out.owner = "me"
        out.understood.append(m.group(0))
    if m := _COMPETITOR_NAMED.search(text):
        out.competitor = m.group(1).rstrip(".")
        out.understood.append(m.group(0))
    elif m := _COMPETITOR_ANY.search(text):
        out.competitor = "*"
        out.understood.append(m.group(0))
    if m := _COMPANY.search(text):
        out.company = m.group(1)
        out.understood.append(m.group(0))
    if not out.filters():
        out.entity = "memory"  # nothing structured: the memory search alone answers it
    return out


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def from_model(data: dict[str, Any], request_id: int) -> Interpretation:
    """The filters a model read from the question (the `search_parser` prompt's answer, schema-checked)."""
    out = Interpretation(method="model", request_id=request_id)
    out.stages = [s for s in data.get("stages") or [] if s in (*OPEN_STAGES, "closed_won", "closed_lost")] or None
    out.owner = "me" if data.get("owner") == "me" else None
    for key in ("min_amount", "max_amount"):
        value = data.get(key)
        setattr(out, key, float(value) if isinstance(value, int | float) and value >= 0 else None)
    out.close_from, out.close_to = _day(data.get("close_from")), _day(data.get("close_to"))
    for key in ("competitor", "company"):
        value = data.get(key)
        setattr(out, key, value.strip()[:100] if isinstance(value, str) and value.strip() else None)
    if not out.filters():
        out.entity = "memory"
    return out

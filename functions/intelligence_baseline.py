"""Deterministic offline baselines for DISG and BANT: word lists, no model.

Used when only the offline model could answer and it produced nothing usable, so that every AI
feature still yields a stored, labelled result (source `baseline`). The lists are short and
English/German; they find cue phrases, they do not understand text. Evidence is always a sentence
taken verbatim from the lead's own messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# cue words per DISG dimension (lower case; matched as whole words or phrases)
DISG_CUES: dict[str, tuple[str, ...]] = {
    "d": ("asap", "now", "decide", "decision", "bottom line", "results", "quickly", "fast", "immediately",
          "just send", "sofort", "schnell", "entscheiden", "ergebnis", "ergebnisse", "kurz", "direkt"),
    "i": ("love", "great", "excited", "amazing", "awesome", "fun", "team", "idea", "ideas", "wonderful",
          "super", "toll", "begeistert", "spannend", "klasse", "idee", "ideen", "freue"),
    "s": ("please", "thank you", "thanks", "careful", "step by step", "no rush", "reliable", "support",
          "colleagues", "together", "bitte", "danke", "gemeinsam", "zuverlässig", "in ruhe", "kollegen",
          "schritt für schritt"),
    "g": ("details", "detail", "data", "figures", "numbers", "documentation", "specification", "exactly",
          "precisely", "compare", "comparison", "proof", "daten", "zahlen", "genau", "dokumentation",
          "vergleich", "nachweis", "spezifikation"),
}
BANT_CUES: dict[str, tuple[str, ...]] = {
    "budget": ("budget", "price", "pricing", "cost", "costs", "eur", "€", "$", "preis", "kosten", "angebot"),
    "authority": ("i decide", "i sign", "my decision", "ceo", "cfo", "head of", "sign off", "approve",
                  "entscheide", "geschäftsführer", "freigabe", "unterschreibe"),
    "need": ("need", "problem", "struggle", "pain", "challenge", "must", "brauchen", "benötigen", "problem",
             "herausforderung", "müssen"),
    "timeline": ("next week", "next month", "this quarter", "q1", "q2", "q3", "q4", "deadline", "by end of",
                 "nächste woche", "nächsten monat", "quartal", "bis ende", "frist"),
}
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


@dataclass(frozen=True)
class DisgBaseline:
    scores: dict[str, float]
    evidence: list[str]
    confidence: float


def _pattern(cues: Iterable[str]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(c) for c in cues), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


_DISG = {k: _pattern(v) for k, v in DISG_CUES.items()}
_BANT = {k: _pattern(v) for k, v in BANT_CUES.items()}


def sentences(messages: Sequence[str]) -> list[str]:
    """The sentences of the messages, whitespace-normalised, each at most 300 characters."""
    out = []
    for message in messages:
        for match in _SENTENCE.finditer(message):
            text = " ".join(match.group(0).split())
            if 3 <= len(text) <= 300:
                out.append(text)
    return out


def disg(messages: Sequence[str]) -> DisgBaseline:
    """DISG scores from cue words; brevity counts for D, question marks with figures for G."""
    found = sentences(messages)
    counts = {k: 0.0 for k in _DISG}
    best: dict[str, str] = {}
    for sentence in found:
        for dim, pattern in _DISG.items():
            hits = len(pattern.findall(sentence))
            if hits:
                counts[dim] += hits
                best.setdefault(dim, sentence)
    words = [len(m.split()) for m in messages if m.strip()]
    if words and sum(words) / len(words) <= 12:
        counts["d"] += 1  # short messages: a direct writer
    if any("?" in m and re.search(r"\d", m) for m in messages):
        counts["g"] += 1  # asks questions about figures
    top = max(counts.values())
    if top == 0:
        scores = {k: 0.25 for k in counts}
    else:
        scores = {k: round(v / top, 3) for k, v in counts.items()}
    evidence = [best[k] for k in sorted(best, key=lambda k: -counts[k])][:5]
    confidence = round(min(0.5, 0.1 + 0.05 * sum(counts.values())), 3)
    return DisgBaseline(scores, evidence, confidence)


def bant(messages: Sequence[str]) -> dict[str, object]:
    """A BANT answer in the bant_assessor schema: 2 (partial) where a cue is mentioned, else 0; its evidence is
    the sentence with the most cues of the dimension."""
    levels: dict[str, int] = {}
    evidence: dict[str, str] = {}
    found = sentences(messages)
    for dim, pattern in _BANT.items():
        # the sentence with the most cues of the dimension ("budget ... 40k EUR" over "cost per
        # seat?"); among equals the newest, the messages coming oldest first
        hits = [(len(pattern.findall(s)), i) for i, s in enumerate(found)]
        best = max((h for h in hits if h[0]), default=None)
        sentence = found[best[1]] if best else None
        levels[dim] = 2 if sentence else 0
        evidence[dim] = sentence or ""
    mentioned = sum(1 for v in levels.values() if v)
    return {**levels, "evidence": evidence, "confidence": round(0.1 + 0.05 * mentioned, 2)}

"""Per-message sentiment offline, from lexicons shipped in wheels: VADER for English, the German Polarity
Lexicon (Klenner et al., as package data of textblob-de) for German.

Each reading is a score from -1 to 1, a label (positive / neutral / negative at VADER's ±0.05) and the
lexicon that gave it (`source`), stored with the message. English goes through VADER's own rules (negation,
"but", intensifiers, capitals, punctuation). German gets a small scorer of the same kind over the lexicon's
polarities: a negation in the three words before flips and damps a word (VADER's factor), an intensifier
before it strengthens it, what follows "aber" / "jedoch" weighs more, and the sum is squashed as VADER does.

What a lexicon cannot do: irony, politeness that hides a refusal ("we will keep you in mind"), domain words
whose sentiment the lexicon does not know ("Kündigung", "churn"), and negation beyond three words. The
textblob-de package cannot be imported with current textblob releases; only its data file is read.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["positive", "neutral", "negative"]
THRESHOLD = 0.05  # VADER's published cut-offs for its compound score
ALPHA = 15.0  # VADER's normalisation: s / sqrt(s^2 + alpha)
NEGATION_SCALAR = -0.74  # VADER's factor for a negated word
_WORD = re.compile(r"\w+")
_DE_NEGATORS = frozenset("nicht kein keine keinen keiner keinem keines nie niemals nichts ohne kaum".split())
_DE_BOOSTERS = frozenset("sehr extrem äußerst total wirklich besonders absolut richtig echt höchst".split())
_CLAUSE = re.compile(r"[,;:.!?]+")
# the lexicon has no entry for these words of sales mail; the project's additions, kept this short on purpose
_DE_EXTRA = {"leider": -0.6, "teuer": -0.7}
_DE_BUT = frozenset({"aber", "jedoch", "allerdings", "trotzdem"})
_DE_HINTS = frozenset("der die das und ist nicht ich wir sie mit für ein eine einen zu auf bitte danke uns "
                      "ihnen haben wäre gerne leider noch schon sehr gut".split())
_EN_HINTS = frozenset("the and is not we you with for a an to on please thanks us have would like unfortunately "
                      "still already very good".split())


@dataclass(frozen=True)
class Reading:
    score: float
    label: Label
    language: str
    source: str


def label_of(score: float) -> Label:
    return "positive" if score >= THRESHOLD else "negative" if score <= -THRESHOLD else "neutral"


def guess_language(text: str) -> str:
    words = [w.lower() for w in _WORD.findall(text)]
    de = sum(w in _DE_HINTS for w in words) + 2 * sum(c in "äöüß" for c in text.lower())
    en = sum(w in _EN_HINTS for w in words)
    return "de" if de > en else "en"


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@cache
def _german() -> dict[str, float]:
    path = metadata.distribution("textblob-de").locate_file("textblob_de/data/de-sentiment.xml")
    root = ET.parse(str(path)).getroot()  # noqa: S314 - package data of a pinned wheel, not user input
    return {w.get("form", ""): float(w.get("polarity", "0")) for w in root.iter("word") if w.get("form")}


@cache
def sources() -> dict[str, str]:
    return {"en": f"lexicon:vader-{metadata.version('vadersentiment')}",
            "de": f"lexicon:german-polarity-1.1 (textblob-de {metadata.version('textblob-de')})"}


def _german_score(text: str) -> float:
    lexicon = _german()
    total = 0.0
    clauses = [_WORD.findall(c) for c in _CLAUSE.split(text)]
    flat = [w.lower() for c in clauses for w in c]
    but = next((i for i, w in enumerate(flat) if w in _DE_BUT), None)
    at = 0
    for words in clauses:  # a negation or an intensifier reaches no further than its clause
        lower = [w.lower() for w in words]
        for i, word in enumerate(words):
            p = _DE_EXTRA.get(lower[i]) or lexicon.get(word, lexicon.get(lower[i], lexicon.get(word.capitalize())))
            if p:
                if any(w in _DE_NEGATORS for w in lower[max(0, i - 3):i]):
                    p *= NEGATION_SCALAR
                if any(w in _DE_BOOSTERS for w in lower[max(0, i - 2):i]):
                    p *= 1.3
                if but is not None:
                    p *= 0.5 if at + i < but else 1.5
                total += p
        at += len(words)
    return total / math.sqrt(total * total + ALPHA)


def read(text: str, language: str | None = None) -> Reading:
    """The lexicon reading of one message; `language` 'de' or 'en' (guessed from the text when unknown)."""
    lang = language if language in ("de", "en") else guess_language(text)
    text = text[:20000]  # a lexicon reading of a longer text says nothing more, and costs linear time
    score = _german_score(text) if lang == "de" else float(_vader().polarity_scores(text)["compound"])
    score = round(max(-1.0, min(1.0, score)), 4)
    return Reading(score, label_of(score), lang, sources()[lang])

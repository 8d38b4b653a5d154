"""Evaluate the offline sentiment lexicons on a small labelled German/English set of sales messages.

    .venv/bin/python scripts/eval_sentiment.py

The set (below) was written for this project by its authors, so it is not independent evidence: it shows
what the lexicons get right and wrong on sales mail, not how they do on real traffic. Printed next to the
lexicons in the same run: the majority class, and a trivial keyword baseline (a dozen words per polarity).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salesflow.functions import sentiment  # noqa: E402

P, N, O = "positive", "negative", "neutral"  # noqa: E741
SET: list[tuple[str, str, str]] = [
    ("en", "Thanks a lot, the demo was excellent.", P),
    ("en", "We love the new dashboard, great work!", P),
    ("en", "Happy to move forward with the proposal.", P),
    ("en", "Your support team was really helpful.", P),
    ("en", "The pilot went well and the team is impressed.", P),
    ("en", "Perfect, that works for us.", P),
    ("en", "Sounds good, looking forward to the call.", P),
    ("en", "We appreciate the quick answer.", P),
    ("en", "This is not what we asked for, very disappointing.", N),
    ("en", "The price is far too high for us.", N),
    ("en", "Unfortunately we have decided to go with another vendor.", N),
    ("en", "The integration keeps failing and nobody answers.", N),
    ("en", "We are frustrated with the delays.", N),
    ("en", "Please stop sending me emails.", N),
    ("en", "The onboarding was a mess.", N),
    ("en", "I am not happy with the contract terms.", N),
    ("en", "Please send the invoice to our accounting department.", O),
    ("en", "The meeting is on Tuesday at 10.", O),
    ("en", "We use Salesforce for our CRM.", O),
    ("en", "Can you send the technical documentation?", O),
    ("en", "Our budget is 40,000 EUR.", O),
    ("en", "I will forward this to my manager.", O),
    ("en", "The decision will be made in June.", O),
    ("en", "We have 120 employees in three offices.", O),
    ("de", "Vielen Dank, die Demo war ausgezeichnet.", P),
    ("de", "Das neue Dashboard gefällt uns sehr gut!", P),
    ("de", "Wir freuen uns auf die Zusammenarbeit.", P),
    ("de", "Ihr Support war wirklich hilfreich.", P),
    ("de", "Der Pilot lief gut, das Team ist begeistert.", P),
    ("de", "Perfekt, das passt für uns.", P),
    ("de", "Klingt gut, bis zum Termin.", P),
    ("de", "Danke für die schnelle Antwort.", P),
    ("de", "Das ist nicht das, was wir bestellt haben, sehr enttäuschend.", N),
    ("de", "Der Preis ist für uns viel zu hoch.", N),
    ("de", "Leider haben wir uns für einen anderen Anbieter entschieden.", N),
    ("de", "Die Schnittstelle fällt ständig aus und niemand antwortet.", N),
    ("de", "Wir sind verärgert über die Verzögerungen.", N),
    ("de", "Bitte schicken Sie mir keine E-Mails mehr.", N),
    ("de", "Das Onboarding war chaotisch.", N),
    ("de", "Mit den Vertragsbedingungen bin ich nicht zufrieden.", N),
    ("de", "Bitte senden Sie die Rechnung an unsere Buchhaltung.", O),
    ("de", "Das Meeting ist am Dienstag um 10 Uhr.", O),
    ("de", "Wir nutzen Salesforce als CRM.", O),
    ("de", "Können Sie die technische Dokumentation schicken?", O),
    ("de", "Unser Budget liegt bei 40.000 EUR.", O),
    ("de", "Ich leite das an meinen Vorgesetzten weiter.", O),
    ("de", "Die Entscheidung fällt im Juni.", O),
    ("de", "Wir haben 120 Mitarbeiter an drei Standorten.", O),
]

_POS = {"thanks", "great", "good", "love", "happy", "excellent", "perfect", "danke", "gut", "super", "freuen",
        "perfekt", "toll", "begeistert"}
_NEG = {"not", "unfortunately", "bad", "disappointing", "problem", "stop", "nicht", "leider", "schlecht",
        "enttäuschend", "keine", "kein"}


def keywords(text: str) -> str:
    words = re.findall(r"\w+", text.lower())
    score = sum(w in _POS for w in words) - sum(w in _NEG for w in words)
    return P if score > 0 else N if score < 0 else O


def macro_f1(gold: list[str], pred: list[str]) -> float:
    f1s = []
    for c in (P, N, O):
        tp = sum(g == p == c for g, p in zip(gold, pred, strict=True))
        fp = sum(p == c != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == c != p for g, p in zip(gold, pred, strict=True))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / 3


def main() -> None:
    print(f"{'language':8} {'method':34} {'accuracy':>8} {'macro-F1':>8}  (n)")
    for lang in ("en", "de"):
        rows = [(t, g) for lg, t, g in SET if lg == lang]
        gold = [g for _, g in rows]
        majority = Counter(gold).most_common(1)[0][0]
        methods = {
            f"majority class ({majority})": [majority] * len(rows),
            "keyword baseline": [keywords(t) for t, _ in rows],
            sentiment.sources()[lang]: [sentiment.read(t, lang).label for t, _ in rows],
            f"{sentiment.sources()[lang]}, language guessed": [sentiment.read(t).label for t, _ in rows],
        }
        for name, pred in methods.items():
            acc = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
            print(f"{lang:8} {name[:34]:34} {acc:8.2f} {macro_f1(gold, pred):8.2f}  ({len(gold)})")
        wrong = [(t, g, sentiment.read(t, lang).label) for t, g in rows if sentiment.read(t, lang).label != g]
        for t, g, p in wrong:
            print(f"    {lang} wrong: {t!r}: gold {g}, lexicon {p}")


if __name__ == "__main__":
    main()

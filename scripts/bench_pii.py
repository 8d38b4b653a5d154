"""What redaction and the compliance check cost per KB, on normal and on pathological text.

Normal text is the labelled PII messages (tests/data/pii_messages.jsonl) joined into one text;
pathological text is 8 KB of each input that made the earlier detectors super-linear (issue 9:
"(0) 1 " repeated froze the API for 19 s). Side by side in the same run:

    redactor   salesflow.gateway.pii.Redactor.find (all kinds, checksums, libphonenumber)
    baseline   two plain regular expressions (an e-mail and a digit run), re.finditer, no checks
    growth     cost of 8 KB / cost of 1 KB for the redactor (linear: about 8)

Then the compliance check per KB: the default rules, and the default rules plus an organisation's
own rules (RE2), including the catastrophic `(a+)+$`, on normal and on pathological text.

    .venv/bin/python scripts/bench_pii.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from salesflow.gateway.compliance import DEFAULT_RULES, check, rules_from_settings
from salesflow.gateway.pii import Redactor

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "pii_messages.jsonl"
PATHOLOGICAL = {"(0) 1 ": "phone groups", "1-": "dashed digits", "4 1": "card-like", "a.": "dotted word",
                "DE12 ": "IBAN-like", "Am Ab ": "street-like", "a" * 40 + "!": "a...a! (for (a+)+$)"}
_BASELINE = (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), re.compile(r"\+?\d[\d ()/.-]{6,}\d"))
ORG_RULES = {"rules": [
    {"id": "org.no_discount", "severity": "block", "message": "No discounts in writing.",
     "patterns": [r"\b\d+\s?% (rabatt|discount)", r"(a+)+$"]},
    {"id": "org.competitor", "severity": "warn", "message": "Do not name competitors.",
     "patterns": [r"\b(acme|globex|initech)\b"], "unless": [r"\bacme (road|street)\b"]},
]}


def baseline(text: str) -> None:
    for pattern in _BASELINE:
        for _ in pattern.finditer(text):
            pass


def per_kb(run: Callable[[str], object], text: str, repeat: int) -> float:
    """The least CPU time of `repeat` runs, in milliseconds per KB of text."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(text)
        best = min(best, time.process_time() - start)
    return best * 1000 / (len(text.encode()) / 1024)


def sized(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    redactor = Redactor()
    find = redactor.find
    with DATA.open(encoding="utf-8") as lines:
        normal = "\n".join(json.loads(line)["text"] for line in lines)
    find(normal)  # load phonenumbers' metadata once
    print(f"{'text':<24}{'KB':>6}{'redactor ms/KB':>16}{'baseline ms/KB':>16}{'ratio':>8}{'growth 1->8 KB':>16}")
    rows = [("normal (labelled set)", normal, None)]
    rows += [(name, sized(unit, 8192), unit) for unit, name in PATHOLOGICAL.items()]
    for name, text, unit in rows:
        ours, base = per_kb(find, text, args.repeat), per_kb(baseline, text, args.repeat)
        growth = ""
        if unit is not None:
            small = per_kb(find, sized(unit, 1024), args.repeat) * 1
            growth = f"{ours * 8 / max(small, 1e-9):.1f}x"
        print(f"{name:<24}{len(text) / 1024:>6.1f}{ours:>16.3f}{base:>16.4f}{ours / max(base, 1e-9):>8.1f}"
              f"{growth:>16}")
    own = rules_from_settings(ORG_RULES)
    print()
    print(f"{'compliance check':<24}{'KB':>6}{'defaults ms/KB':>16}{'+ org rules ms/KB':>19}")
    for name, text in [("normal (labelled set)", normal), ("a...a! 8 KB", sized("a" * 40 + "!", 8192)),
                       ("a...a 8 KB, no break", "a" * 8192)]:
        default = per_kb(lambda t: check(t, rules=DEFAULT_RULES), text, args.repeat)
        with_own = per_kb(lambda t: check(t, rules=own), text, args.repeat)
        print(f"{name:<24}{len(text) / 1024:>6.1f}{default:>16.3f}{with_own:>19.3f}")
    print()
    print("the pattern (a+)+$ on 'a' * n + '!': Python's backtracking re against RE2 (as org rules run)")
    import re2  # noqa: PLC0415 - only this comparison needs the engine itself

    backtracking, linear = re.compile(r"(a+)+$"), re2.compile(r"(a+)+$")
    for n in (16, 18, 20, 22):
        text = "a" * n + "!"
        start = time.process_time()
        backtracking.search(text)
        slow = time.process_time() - start
        fast = per_kb(linear.search, text, args.repeat) * len(text) / 1024
        print(f"  n={n:<3} re {slow * 1000:10.1f} ms   re2 {fast:8.4f} ms")


if __name__ == "__main__":
    main()

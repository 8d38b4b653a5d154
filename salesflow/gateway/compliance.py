"""Compliance check on model outputs: forbidden claims, pressure tactics and missing opt-outs, DE and EN.

A pure function over the text; the gateway writes its verdict to `salesflow.compliance_log`, with the
`rules_version` that says which rule set judged. Rules are regular expressions, because a reviewer
must be able to read why a text was stopped, and an organisation must be able to add its own rules
and switch default ones off (`rules_from_settings`).

Engines: the default rules below are ours, reviewed, and use Python's `re` (they need look-ahead).
An organisation's own patterns are compiled with RE2 (`google-re2`), whose matching time is linear
in the text whatever the pattern: `(a+)+$` costs what `a+$` costs. RE2 has no look-around and no
back-references; a pattern that uses them is refused when saved (`api.set_ai_settings` checks the
syntax in SQL, the gateway checks it again with RE2 at use). A rule that still cannot be compiled
at use is left out of the check with a warning in the log (`usable_rules`), so one bad pattern
never breaks every chat of its organisation.

What is logged: `ComplianceResult.log_findings` gives rule ids, offsets and a SHA-256 of the matched
span, never text (the excerpt is for the person reading the verdict, in memory only).

Severity policy: claims that could be false or legally binding ("garantiert", "risk-free", "the best
on the market", "wir erstatten in jedem Fall") block, because once sent they cannot be taken back;
pressure tactics only warn (see `_PRESSURE`); a marketing text without an opt-out blocks, because
sending it is unlawful (UWG § 7, GDPR art. 21, CAN-SPAM).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import re2

RULE_KINDS = ("forbidden_claim", "pressure", "opt_out", "pattern")
SEVERITIES = ("block", "warn")
# the purposes whose texts go to people who have not asked for them, and so must let them opt out
OPT_OUT_PURPOSES = frozenset({"marketing"})
_CONTEXT = 30
_MAX_FINDINGS_PER_RULE = 5  # enough for a reviewer to see the pattern; keeps the log row small
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_RULE_KEYS = {"id", "kind", "severity", "message", "patterns", "unless", "languages"}
# bounds on an organisation's own rules (also enforced by api.set_ai_settings)
MAX_OWN_RULES = 50
MAX_PATTERN_CHARS = 500
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """One compliance rule. A match of any of `patterns` (case-insensitive) is a finding, unless the
    matched text lies inside a match of one of `unless` (the documented exceptions: "Herstellergarantie",
    "we cannot guarantee"). For kind "opt_out" it is the other way round: the finding is that none of
    `patterns` occurs, and the rule applies only to marketing texts."""

    id: str
    kind: str
    severity: str
    message: str
    patterns: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("de", "en")
    unless: tuple[str, ...] = ()
    # "re" for the vetted defaults, "re2" (linear time) for an organisation's own rules
    engine: str = "re"


@dataclass(frozen=True)
class Finding:
    """What fired, how bad it is, and the matched text with ~30 characters of context."""

    rule_id: str
    severity: str
    message: str
    excerpt: str
    # where the match is in the judged text ([start, end) in characters; both len(text) for a missing opt-out)
    start: int = 0
    end: int = 0
    span_sha256: str = ""


@dataclass(frozen=True)
class ComplianceResult:
    """The verdict: `passed` is False when any finding blocks."""

    passed: bool
    findings: tuple[Finding, ...]
    rules_version: str

    def to_json(self) -> dict[str, Any]:
        """The verdict as JSON for the compliance log and the API."""
        return {"passed": self.passed, "findings": [asdict(f) for f in self.findings],
                "rules_version": self.rules_version}  # fmt: skip

    def log_findings(self) -> list[dict[str, Any]]:
        """The findings as `salesflow.compliance_log` keeps them: ids, offsets and hashes, no text."""
        return [{"rule_id": f.rule_id, "severity": f.severity, "start": f.start, "end": f.end,
                 "span_sha256": f.span_sha256} for f in self.findings]  # fmt: skip


# "not" close before the claim word takes the claim back ("wir können das nicht garantieren");
# "nicht nur" does not ("wir garantieren nicht nur ..., sondern auch ...")
_NOT_DE = r"\b(?:nicht(?!\s+nur)|niemals|niemand)\s+(?:\w+\s+){0,2}"
_NOT_EN = r"\b(?:not|cannot|can't|can\s+not|don't|do\s+not|won't|never|nobody|no\s+one)\s+(?:\w+\s+){0,2}"

_CLAIMS = (
    Rule(
        "forbidden.guarantee", "forbidden_claim", "block",
        "Promises a guaranteed outcome (returns, results, savings); say what is likely and why instead.",
        patterns=(
            r"\bgarantier(?:t|te|ten|en|e)\b",
            r"\b(?:erfolgs|rendite|gewinn|umsatz|ertrags|ersparnis|spar|ergebnis|zufriedenheits)garantie\b",
            r"\bguarantee(?:s|d|ing)?\b",
            r"\b100\s?(?:%|prozent|percent)\s?(?:sicher|garantiert|safe|secure|certain|guaranteed)\b",
            r"\bhundertprozentig\s+sicher\b",
        ),
        # Decision: a warranty is a fact about the product, not a promised outcome ("Herstellergarantie
        # von 2 Jahren", "2-year guarantee"), and declining to promise is what we want ("we cannot
        # guarantee results", "das können wir nicht garantieren"). Money-back promises are judged
        # by forbidden.refund_promise.
        unless=(
            r"\b(?:hersteller|produkt|geräte|händler|haltbarkeits)garantie\b",
            r"\b\d+[- ](?:jahre?|monate?|years?|months?)[- ](?:\w+[- ])?(?:garantie|guarantee|warranty)\b",
            r"\b(?:manufacturer'?s?|limited|product|lifetime|hardware)\s+guarantee\b",
            r"\bguarantee\s+(?:of|for)\s+\d+\s+(?:years?|months?)\b",
            r"\bmoney[- ]back\s+guarantee\b",
            _NOT_DE + r"garantier\w*",
            r"\bgarantieren\s+(?:\w+\s+){0,3}nicht\b(?!\s+nur)",
            r"\bkein\w*\s+(?:\w+\s+)?\w*garantie\b",
            _NOT_EN + r"guarantee\w*",
            r"\bno\s+guarantee\b",
        ),
    ),
    Rule(
        "forbidden.risk_free", "forbidden_claim", "block",
        "Claims there is no risk; every purchase or investment has some, so this cannot be promised.",
        patterns=(
            r"\brisiko(?:los|frei)\w*", r"\bohne\s+(?:jedes|jegliches|ein)\s+risiko\b", r"\bkein(?:erlei)?\s+risiko\b",
            r"\brisk[- ]?free\b", r"\bno\s+risk\b", r"\bzero\s+risk\b", r"\bwithout\s+(?:any\s+)?risk\b",
        ),
        unless=(
            _NOT_DE + r"risiko(?:los|frei)\w*", _NOT_EN + r"risk[- ]?free\b",
            r"\bkein\w*\s+\w+\s+ist\s+risiko(?:los|frei)\w*", r"\bno\s+\w+\s+is\s+(?:ever\s+)?risk[- ]?free\b",
        ),
    ),
    Rule(
        "forbidden.certain_outcome", "forbidden_claim", "block",
        "States a future business result as certain; results depend on the customer and cannot be promised.",
        patterns=(
            r"\b(?:will|'ll)\s+(?:definitely|certainly|surely|undoubtedly)\s+(?:save|earn|make|double|triple|"
            r"increase|grow|boost)\b",
            r"\b(?:double|triple)\s+your\s+(?:revenue|sales|income|profits?|pipeline)\b",
            r"\b(?:verdoppeln|verdreifachen)\s+(?:sie\s+)?ihr(?:en)?\s+(?:umsatz|gewinn|ertrag|pipeline)\b",
            r"\b(?:werden|wird)\s+(?:sie\s+)?(?:definitiv|auf\s+jeden\s+fall|ganz\s+sicher|mit\s+sicherheit)\s+"
            r"(?:sparen|verdienen|mehr|steigen|wachsen)\b",
        ),
    ),
    Rule(
        "forbidden.superlative", "forbidden_claim", "block",
        "Unverifiable superlative about the product or the market; name a measurable fact instead.",
        # only superlatives about the market or the world: "the best time to call" stays allowed
        patterns=(
            r"\b(?:the\s+)?(?:best|cheapest|fastest)\s+(?:\w+\s+){0,2}(?:on|in)\s+the\s+"
            r"(?:market|world|industry)\b",
            r"\b(?:world'?s|industry'?s|market'?s)\s+(?:best|cheapest|fastest|number\s+one|#1)\b",
            r"\b(?:number\s+one|no\.\s?1|#\s?1)\s+(?:\w+\s+){0,2}(?:on|in)\s+the\s+(?:market|world|industry)\b",
            r"\bunbeatable\b", r"\bunmatched\b",
            r"\b(?:der|die|das)\s+(?:beste|günstigste|billigste|schnellste)\w*\s+(?:\w+\s+){0,2}"
            r"(?:am|auf\s+dem)\s+markt\b",
            r"\b(?:die\s+)?nummer\s+(?:1|eins)\s+(?:\w+\s+){0,2}(?:am|auf\s+dem)\s+markt\b",
            r"\b(?:welt|markt)weit\s+(?:beste|günstigste|schnellste)\w*\b",
            r"\bunschlagbar\w*\b", r"\bkonkurrenzlos\w*\b",
        ),
    ),
    Rule(
        "forbidden.refund_promise", "forbidden_claim", "block",
        "Makes a binding refund promise the company has not approved; refer to the contract terms instead.",
        patterns=(
            r"\bwir\s+erstatten\s+(?:ihnen\s+)?(?:\w+\s+){0,2}(?:in\s+jedem\s+fall|auf\s+jeden\s+fall|immer|"
            r"garantiert|ohne\s+wenn\s+und\s+aber)\b",
            r"\bgeld[- ]zurück[- ]garantie\b",
            r"\b(?:volle|komplette)\s+rückerstattung\s+ohne\s+(?:angabe\s+von\s+gründen|wenn\s+und\s+aber)\b",
            r"\bwe(?:'ll|\s+will)?\s+refund\s+(?:you\s+)?(?:\w+\s+){0,2}(?:in\s+any\s+case|no\s+matter\s+what|"
            r"regardless)\b",
            r"\bmoney[- ]back\s+guarantee\b",
            r"\bfull\s+refund,?\s+no\s+questions\s+asked\b",
        ),
    ),
)

# Pressure warns instead of blocking: urgency is sometimes simply true (a price list that really
# changes on the 1st, a workshop that really has 2 seats left), and only a person who knows the
# offer can tell honest urgency from manufactured urgency. The finding puts that question to them.
_PRESSURE = (
    Rule(
        "pressure.deadline", "pressure", "warn",
        "Artificial deadline; if the offer really ends, give the date and the reason.",
        patterns=(
            # "nur heute" as in "ich bin nur heute im Büro" is not pressure
            r"\bnur\s+(?:noch\s+)?heute\b(?!\s+(?:vormittag|nachmittag|abend|morgen|im\s+büro|erreichbar|"
            r"unterwegs|da|hier|bis)\b)",
            r"\b(?:only\s+today|today\s+only)\b(?!,?\s+(?:I|we)\b)",
            # hours, not days: "the quote is valid for 30 days" is ordinary terms
            r"\b(?:offer|deal|discount|price)\s+(?:\w+\s+)?(?:expires|ends|runs\s+out)\s+in\s+\d+\s+"
            r"(?:hours?|minutes?)\b",
            r"\b(?:angebot|rabatt|preis|aktion)\s+(?:\w+\s+){0,2}(?:endet|läuft|verfällt|gilt)\s+(?:nur\s+noch\s+)?"
            r"(?:in|für)\s+\d+\s+(?:stunden|minuten)\b",
            r"\bnur\s+noch\s+\d+\s+(?:stunden|minuten)\b", r"\bonly\s+\d+\s+(?:hours?|minutes?)\s+left\b",
            r"\b(?:ends|expires|endet|läuft\s+ab)\s+(?:at|um)\s+(?:midnight|mitternacht)\b",
        ),
    ),
    Rule(
        "pressure.last_chance", "pressure", "warn",
        "'Last chance' framing pressures the reader; state the actual terms.",
        patterns=(r"\b(?:last|final)\s+chance\b", r"\bletzte\s+chance\b", r"\bjetzt\s+oder\s+nie\b",
                  r"\bnow\s+or\s+never\b"),
    ),
    Rule(
        "pressure.act_now", "pressure", "warn",
        "Urges an immediate decision; let the reader decide in their own time.",
        # not "zögern Sie nicht, mich anzurufen" / "don't hesitate to reach out": those are politeness
        patterns=(r"\bsofort\s+handeln\b", r"\bhandeln\s+sie\s+(?:jetzt|sofort)\b", r"\bact\s+(?:now|fast|today)\b",
                  r"\bdon'?t\s+miss\s+out\b", r"\bschnell\s+sein\s+lohnt\s+sich\b", r"\bjetzt\s+zuschlagen\b"),
    ),
    Rule(
        "pressure.scarcity", "pressure", "warn",
        "Scarcity claim; make sure it is true and say so plainly, or remove it.",
        patterns=(
            r"\bonly\s+(?:\d+|one|two|three|four|five|a\s+few)\s+(?:\w+\s+)?(?:left|remaining)\b",
            # "noch" makes it scarcity: "wir brauchen nur 5 Lizenzen" is a customer's need
            r"\bnur\s+noch\s+(?:\d+|ein|eine|zwei|drei|vier|fünf|wenige)\s+(?:freie\s+)?(?:plätze|platz|"
            r"lizenzen|stück|exemplare|termine|slots?)\b",
            r"\bwhile\s+(?:supplies|stocks?)\s+last\b", r"\bsolange\s+der\s+vorrat\s+reicht\b",
            r"\b(?:stark\s+)?begrenzte\s+(?:anzahl|plätze|stückzahl)\b",
            r"\blimited\s+(?:number\s+of\s+)?(?:spots|seats|places)\b",
        ),
    ),
)

_OPT_OUT = Rule(
    "optout.missing", "opt_out", "block",
    "Marketing text without an opt-out; add an unsubscribe link or a sentence on how to object.",
    patterns=(
        r"\bunsubscribe\b", r"\bopt[- ]?out\b", r"\babmelde\w*|\babzumelden\b|\babmeldung\b", r"\babbestell\w*",
        r"\bmelden\s+sie\s+sich\s+(?:\w+\s+){0,3}ab\b",
        r"\bwiderspruch\b|\bwidersprechen\b", r"\bno\s+longer\s+(?:wish|want)\s+to\s+(?:receive|hear)\b",
        r"\bkeine\s+(?:weiteren\s+)?(?:e-mails|mails|nachrichten|werbung)\s+(?:mehr\s+)?(?:erhalten|bekommen)\b",
        r"\b(?:reply|antworten\s+sie\s+mit)\s+stop\b", r"\bmanage\s+(?:your\s+)?(?:email\s+)?preferences\b",
    ),
)

DEFAULT_RULES: tuple[Rule, ...] = (*_CLAIMS, *_PRESSURE, _OPT_OUT)


@lru_cache(maxsize=512)
def _compiled_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


@lru_cache(maxsize=512)
def _compiled_re2(pattern: str) -> Any:
    """An organisation's pattern in RE2 (linear time); ValueError with RE2's reason when it cannot be used."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _re2_options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        raise ValueError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None


def _compiled(pattern: str, engine: str = "re") -> Any:
    return _compiled_re2(pattern) if engine == "re2" else _compiled_re(pattern)


def _finding(rule: Rule, text: str, start: int, end: int) -> Finding:
    digest = hashlib.sha256(text[start:end].encode()).hexdigest()
    return Finding(rule.id, rule.severity, rule.message, _excerpt(text, start, end), start, end, digest)


def rules_version(rules: Sequence[Rule]) -> str:
    """sha256[:16] of the rule set (order-independent), so the log says which rules judged a text."""
    canonical = json.dumps(sorted((asdict(rule) for rule in rules), key=lambda r: r["id"]), sort_keys=True,
                           ensure_ascii=False)  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _excerpt(text: str, start: int, end: int) -> str:
    """The match with ~30 characters either side, on one line."""
    left, right = max(0, start - _CONTEXT), min(len(text), end + _CONTEXT)
    excerpt = " ".join(text[left:right].split())
    return ("…" if left > 0 else "") + excerpt + ("…" if right < len(text) else "")


def _language(language: str | None) -> str | None:
    """ "de-DE", "DE", "de_AT" -> "de"; None stays None (check every rule)."""
    if not language:
        return None
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


def check(text: str, *, purpose: str = "sales", language: str | None = None,
          rules: Sequence[Rule] = DEFAULT_RULES) -> ComplianceResult:  # fmt: skip
    """Judge a model output against `rules`.

    `purpose` "marketing" also requires an opt-out (rules of kind "opt_out"); "sales", "chat" and
    "draft" texts answer someone who wrote to us and need none. `language` limits the check to the
    rules for that language; None checks every rule, which is right for mixed-language texts.
    """
    lang = _language(language)
    findings: list[Finding] = []
    for rule in rules:
        # An opt-out is required whatever the language; one we cannot recognise blocks, for a person to check.
        if lang is not None and lang not in rule.languages and rule.kind != "opt_out":
            continue
        if rule.kind == "opt_out":
            if purpose in OPT_OUT_PURPOSES and not any(_compiled(p, rule.engine).search(text) for p in rule.patterns):
                findings.append(_finding(rule, text, len(text), len(text)))
            continue
        allowed = [m.span() for p in rule.unless for m in _compiled(p, rule.engine).finditer(text)]
        spans: list[tuple[int, int]] = []
        for pattern in rule.patterns:
            for match in _compiled(pattern, rule.engine).finditer(text):
                start, end = match.span()
                if any(a <= start and end <= b for a, b in allowed):
                    continue
                if not any(start < e and s < end for s, e in spans):
                    spans.append((start, end))
        for start, end in sorted(spans)[:_MAX_FINDINGS_PER_RULE]:
            findings.append(_finding(rule, text, start, end))
    passed = not any(f.severity == "block" for f in findings)
    return ComplianceResult(passed, tuple(findings), rules_version(rules))


def _rule_from_json(raw: Any, index: int) -> Rule:
    """One organisation rule from its JSON, or ValueError naming the rule and what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"compliance rule #{index + 1} must be a JSON object")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise ValueError(f"compliance rule #{index + 1}: 'id' must match {_RULE_ID.pattern}, not {rule_id!r}")
    where = f"compliance rule {rule_id!r}"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_RULE_KEYS))}")
    kind, severity, message = raw.get("kind", "pattern"), raw.get("severity"), raw.get("message")
    if kind not in RULE_KINDS:
        raise ValueError(f"{where}: unknown kind {kind!r}; valid kinds: {', '.join(RULE_KINDS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"{where}: severity must be 'block' or 'warn', not {severity!r}")
    if not isinstance(message, str) or not message.strip():
        raise ValueError(f"{where}: 'message' must say what is wrong, for the person reviewing")
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("patterns", "unless", "languages"):
        value = raw.get(key, [] if key != "languages" else ["de", "en"])
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{where}: {key!r} must be a list of strings")
        lists[key] = tuple(value)
    if not lists["patterns"]:
        raise ValueError(f"{where}: needs at least one pattern")
    for pattern in lists["patterns"] + lists["unless"]:
        try:
            _compiled_re2(pattern)
        except ValueError as exc:
            raise ValueError(f"{where}: invalid regex {pattern!r}: {exc}") from None
    return Rule(rule_id, kind, severity, message.strip(), lists["patterns"], lists["languages"], lists["unless"],
                engine="re2")


def rules_from_settings(settings: Mapping[str, Any] | None) -> tuple[Rule, ...]:
    """The rule set for an organisation's "compliance" settings.

    {"disable": ["pressure.deadline"], "rules": [{"id": "org.no_discount", "kind": "pattern",
    "severity": "block", "message": "...", "patterns": ["\\b\\d+\\s?% rabatt"]}]}. An organisation rule
    with a default rule's id replaces it (to make pressure block, say). Anything that cannot be
    applied (an unknown key, an unknown rule id to disable, a bad regex) raises ValueError with a
    one-line reason: the gateway refuses the call rather than judge with rules nobody meant.
    """
    if not settings:
        return DEFAULT_RULES
    if not isinstance(settings, Mapping):
        raise ValueError(f"compliance settings must be a JSON object, not {type(settings).__name__}")
    unknown = sorted(set(settings) - {"disable", "rules"})
    if unknown:
        raise ValueError(f"unknown compliance setting(s) {', '.join(unknown)}; allowed: disable, rules")
    raw_rules = settings.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ValueError("compliance setting 'rules' must be a list of rule objects")
    if len(raw_rules) > MAX_OWN_RULES:
        raise ValueError(f"at most {MAX_OWN_RULES} compliance rules, not {len(raw_rules)}")
    own = [_rule_from_json(raw, index) for index, raw in enumerate(raw_rules)]
    ids = [rule.id for rule in own]
    duplicated = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
    if duplicated:
        raise ValueError(f"compliance rule id(s) defined twice: {', '.join(duplicated)}")
    disable = settings.get("disable", [])
    if not isinstance(disable, list) or not all(isinstance(item, str) for item in disable):
        raise ValueError("compliance setting 'disable' must be a list of rule ids")
    known = {rule.id for rule in DEFAULT_RULES} | set(ids)
    missing = sorted(set(disable) - known)
    if missing:
        raise ValueError(f"cannot disable unknown compliance rule(s) {', '.join(missing)}; "
                         f"default rules: {', '.join(rule.id for rule in DEFAULT_RULES)}")  # fmt: skip
    replaced = set(ids)
    merged = [rule for rule in DEFAULT_RULES if rule.id not in replaced] + own
    return tuple(rule for rule in merged if rule.id not in set(disable))


def usable_rules(settings: Mapping[str, Any] | None) -> tuple[Rule, ...]:
    """The rules to judge with at call time: `rules_from_settings`, but never an error.

    Settings saved through `api.set_ai_settings` are valid; older ones, or a pattern PostgreSQL
    accepts and RE2 does not, must not stop every call of the organisation. The organisation's
    rules that cannot be used are left out, each with a warning in the log; the defaults stay.
    """
    try:
        return rules_from_settings(settings)
    except ValueError as exc:
        log.warning("compliance settings partly unusable, judging without the bad rules: %s", exc)
    raw_rules = settings.get("rules") if isinstance(settings, Mapping) else None
    own: list[Rule] = []
    for index, raw in enumerate(raw_rules[:MAX_OWN_RULES] if isinstance(raw_rules, list) else []):
        try:
            rule = _rule_from_json(raw, index)
        except ValueError:
            continue
        if rule.id not in {r.id for r in own}:
            own.append(rule)
    disable = settings.get("disable") if isinstance(settings, Mapping) else None
    off = set(disable) if isinstance(disable, list) and all(isinstance(i, str) for i in disable) else set()
    replaced = {rule.id for rule in own}
    merged = [rule for rule in DEFAULT_RULES if rule.id not in replaced] + own
    return tuple(rule for rule in merged if rule.id not in off)

"""The compliance check on model outputs (salesflow.gateway.compliance): default rules, DE and EN, and org settings."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

from salesflow.gateway.compliance import (
    DEFAULT_RULES,
    Rule,
    check,
    rules_from_settings,
    rules_version,
    usable_rules,
)

OPT_OUT_DE = "Sie möchten keine Newsletter mehr? Hier abmelden: https://firma.example/abmelden"
OPT_OUT_EN = "To unsubscribe, click here: https://firma.example/unsubscribe"

# (text, purpose, passes, rule ids that fire)
CASES: list[tuple[str, str, bool, set[str]]] = [
    # German: claims block
    ("Mit unserer Lösung steigern Sie garantiert Ihren Umsatz um 30 %.", "sales", False, {"forbidden.guarantee"}),
    ("Die Anlage ist 100 % sicher und völlig risikolos.", "sales", False,
     {"forbidden.guarantee", "forbidden.risk_free"}),
    ("Wir sind der beste Anbieter am Markt.", "draft", False, {"forbidden.superlative"}),
    ("Sollte es nicht passen: Wir erstatten in jedem Fall den vollen Betrag.", "sales", False,
     {"forbidden.refund_promise"}),
    ("Mit uns verdoppeln Sie Ihren Umsatz im ersten Jahr.", "chat", False, {"forbidden.certain_outcome"}),
    ("Das ist Ihre Erfolgsgarantie für das nächste Quartal.", "sales", False, {"forbidden.guarantee"}),
    ("Unschlagbare Preise – nur solange der Vorrat reicht.", "sales", False,
     {"forbidden.superlative", "pressure.scarcity"}),
    ("Wir garantieren nicht nur schnelle Lieferung, sondern auch beste Qualität.", "sales", False,
     {"forbidden.guarantee"}),
    ("Ohne jedes Risiko testen Sie vier Wochen lang.", "sales", False, {"forbidden.risk_free"}),
    # German: pressure warns, the text still passes
    ("Nur heute: 20 % Rabatt auf alle Lizenzen!", "sales", True, {"pressure.deadline"}),
    ("Letzte Chance – das Angebot endet in 3 Stunden.", "sales", True, {"pressure.last_chance", "pressure.deadline"}),
    ("Nur noch 2 Plätze im Workshop frei, sofort handeln!", "sales", True, {"pressure.scarcity", "pressure.act_now"}),
    # German: clean texts, including the look-alikes the rules deliberately leave alone
    ("Die Geräte haben eine Herstellergarantie von 2 Jahren.", "sales", True, set()),
    ("Auf die Hardware gibt es 2 Jahre Garantie, auf Verschleißteile 6 Monate.", "sales", True, set()),
    ("Ein bestimmtes Ergebnis können wir nicht garantieren, aber Kunden sparen im Schnitt 12 %.", "sales", True, set()),
    ("Hallo Frau Weber, danke für Ihre Nachricht. Gern schicke ich bis Freitag ein Angebot für 25 Lizenzen.",
     "draft", True, set()),
    ("Zögern Sie nicht, mich anzurufen – ich bin nur heute im Büro, ab Montag wieder mobil.", "chat", True, set()),
    ("Wir brauchen nur 5 Lizenzen, und das Angebot gilt 30 Tage.", "chat", True, set()),
    ("Keine Geldanlage ist risikolos; sprechen Sie mit Ihrer Beraterin.", "sales", True, set()),
    # English: claims block
    ("Our platform delivers guaranteed results within 90 days.", "sales", False, {"forbidden.guarantee"}),
    ("This is a risk-free investment with no risk at all.", "sales", False, {"forbidden.risk_free"}),
    ("We are simply the best CRM on the market.", "draft", False, {"forbidden.superlative"}),
    ("If you're not happy, we will refund you no matter what.", "sales", False, {"forbidden.refund_promise"}),
    ("Every plan comes with a 30-day money-back guarantee.", "sales", False, {"forbidden.refund_promise"}),
    ("You will definitely save 40% on licence costs.", "sales", False, {"forbidden.certain_outcome"}),
    ("Our prices are the cheapest in the world, 100% guaranteed.", "sales", False,
     {"forbidden.superlative", "forbidden.guarantee"}),
    # English: pressure warns
    ("Act now - this offer expires in 24 hours!", "sales", True, {"pressure.act_now", "pressure.deadline"}),
    ("Only 3 seats left for the onboarding workshop.", "sales", True, {"pressure.scarcity"}),
    ("Today only: 20% off. Last chance!", "sales", True, {"pressure.deadline", "pressure.last_chance"}),
    # English: clean texts
    ("What's the best time to call you this week?", "chat", True, set()),
    ("We can't guarantee specific results, but similar teams cut response times by a third.", "sales", True, set()),
    ("All devices come with a 2-year manufacturer's guarantee.", "sales", True, set()),
    ("Don't hesitate to reach out if you have questions. The quote is valid for 30 days.", "draft", True, set()),
    # marketing needs an opt-out; sales, chat and draft do not
    ("Entdecken Sie unser neues Reporting-Modul – jetzt 30 Tage kostenlos testen.", "marketing", False,
     {"optout.missing"}),
    (f"Entdecken Sie unser neues Reporting-Modul. {OPT_OUT_DE}", "marketing", True, set()),
    ("Neues Modul verfügbar. Sie können der Nutzung Ihrer Daten für Werbung jederzeit widersprechen.", "marketing",
     True, set()),
    ("Neues Modul verfügbar. Melden Sie sich hier vom Newsletter ab.", "marketing", True, set()),
    ("Meet our new AI assistant - book a demo this week.", "marketing", False, {"optout.missing"}),
    (f"Meet our new AI assistant - book a demo this week. {OPT_OUT_EN}", "marketing", True, set()),
    ("Guaranteed savings for every team! Reply STOP to opt out.", "marketing", False, {"forbidden.guarantee"}),
    ("Meet our new AI assistant - book a demo this week.", "sales", True, set()),
]


@pytest.mark.parametrize(("text", "purpose", "passes", "fired"), CASES, ids=[c[0][:40] for c in CASES])
def test_default_rules(text: str, purpose: str, passes: bool, fired: set[str]) -> None:
    result = check(text, purpose=purpose)
    assert {f.rule_id for f in result.findings} == fired, result.findings
    assert result.passed is passes


def test_cases_cover_both_languages_and_both_outcomes() -> None:
    assert len(CASES) >= 30
    assert sum(passes for _, _, passes, _ in CASES) >= 10 and sum(not p for _, _, p, _ in CASES) >= 10
    fired = set().union(*(ids for *_, ids in CASES))
    assert fired == {rule.id for rule in DEFAULT_RULES}  # every default rule is shown to fire


def test_claims_block_and_pressure_warns() -> None:
    """Behaviour, not the rule table read back: a claim stops the text, pressure only flags it."""
    claim = check("Wir garantieren Ihnen 30 % mehr Umsatz.", purpose="sales", language="de")
    assert not claim.passed and {(f.rule_id, f.severity) for f in claim.findings} == {("forbidden.guarantee", "block")}
    pressure = check("Only 2 seats left - act now!", purpose="sales", language="en")
    assert pressure.passed and {f.severity for f in pressure.findings} == {"warn"}
    assert {f.rule_id for f in pressure.findings} >= {"pressure.scarcity", "pressure.act_now"}
    no_opt_out = check("Our new catalogue is out.", purpose="marketing", language="en")
    assert not no_opt_out.passed and [f.severity for f in no_opt_out.findings] == ["block"]


def test_finding_carries_message_and_excerpt_with_context() -> None:
    text = "Sehr geehrter Herr Krüger, " * 3 + "wir erzielen garantiert mehr Abschlüsse. " + "Beste Grüße " * 5
    (finding,) = check(text).findings
    assert finding.rule_id == "forbidden.guarantee" and finding.severity == "block"
    assert finding.message.startswith("Promises a guaranteed outcome")
    assert "garantiert" in finding.excerpt and finding.excerpt.startswith("…") and finding.excerpt.endswith("…")
    assert len(finding.excerpt) <= len("garantiert") + 2 * 30 + 2


def test_repeated_matches_are_capped_per_rule() -> None:
    result = check("garantiert! " * 20)
    assert len(result.findings) == 5


def test_the_log_form_keeps_ids_offsets_and_hashes_but_no_text() -> None:
    text = "Only 2 left - guaranteed!"
    result = check(text, purpose="sales")
    data = json.loads(json.dumps(result.to_json()))
    assert data["passed"] is False and data["rules_version"] == result.rules_version
    assert {f["rule_id"] for f in data["findings"]} == {"forbidden.guarantee", "pressure.scarcity"}
    logged = result.log_findings()
    assert all(set(f) == {"rule_id", "severity", "start", "end", "span_sha256"} for f in logged)
    for f in logged:
        assert f["span_sha256"] == hashlib.sha256(text[f["start"]:f["end"]].encode()).hexdigest()
    assert "guaranteed" not in json.dumps(logged) and "left" not in json.dumps(logged)


def test_own_patterns_run_in_linear_time_and_bad_ones_never_break_a_check() -> None:
    """`(a+)+$` backtracks exponentially in Python's re; in RE2 8x the text costs about 8x."""
    rule = {**ORG_RULE, "patterns": ["(a+)+$"]}
    rules = rules_from_settings({"rules": [rule]})
    assert next(r for r in rules if r.id == "org.no_discount").engine == "re2"

    def cost(n: int) -> float:
        text = "a" * n + "!"
        start = time.process_time()
        for _ in range(20):
            check(text, rules=rules)
        return time.process_time() - start

    cost(100)
    assert cost(16000) / max(cost(2000), 1e-6) < 20
    # an unusable pattern (saved before validation, or accepted by PostgreSQL but not by RE2) is left out
    broken = {"rules": [{**ORG_RULE, "patterns": ["(unclosed"]}, {**ORG_RULE, "id": "org.ok", "patterns": ["rabatt"]}]}
    with pytest.raises(ValueError):
        rules_from_settings(broken)
    usable = usable_rules(broken)
    assert "org.ok" in {r.id for r in usable} and "org.no_discount" not in {r.id for r in usable}
    assert not check("10 % Rabatt", rules=usable).passed
    assert usable_rules({"bogus": 1}) == DEFAULT_RULES


ORG_RULE = {"id": "org.no_discount", "kind": "pattern", "severity": "block",
            "message": "Discounts are agreed by the sales lead, not in writing.", "patterns": [r"\b\d+\s?% rabatt"]}


def test_org_rule_is_added_to_the_defaults() -> None:
    rules = rules_from_settings({"rules": [ORG_RULE]})
    result = check("Für Sie: 15 % Rabatt, garantiert.", rules=rules)
    assert not result.passed
    assert {f.rule_id for f in result.findings} == {"org.no_discount", "forbidden.guarantee"}
    assert check("Für Sie: 15 % Rabatt.").passed  # the defaults alone have no objection


def test_disabled_rule_no_longer_fires() -> None:
    rules = rules_from_settings({"disable": ["pressure.deadline", "optout.missing"]})
    assert "pressure.deadline" not in {rule.id for rule in rules}
    assert check("Nur heute: 20 % Rabatt!", rules=rules).findings == ()
    assert check("Neues Modul, jetzt testen.", purpose="marketing", rules=rules).passed


def test_org_rule_with_a_default_id_replaces_it() -> None:
    stricter = {"id": "pressure.last_chance", "kind": "pressure", "severity": "block",
                "message": "We never write 'last chance'.", "patterns": [r"\bletzte chance\b", r"\blast chance\b"]}
    rules = rules_from_settings({"rules": [stricter]})
    result = check("Letzte Chance für den Frühbucherpreis.", rules=rules)
    # replaced, not added beside the default: one finding, the organisation's, and it now blocks
    assert not result.passed
    assert [(f.rule_id, f.message) for f in result.findings] == [("pressure.last_chance",
                                                                 "We never write 'last chance'.")]
    assert check("Letzte Chance für den Frühbucherpreis.").passed  # the default only warns


def test_language_limits_the_rules_but_not_the_opt_out() -> None:
    german_only = {**ORG_RULE, "languages": ["de"]}
    rules = rules_from_settings({"rules": [german_only]})
    assert not check("15 % Rabatt", language="de-DE", rules=rules).passed
    assert not check("15 % Rabatt", language=None, rules=rules).passed
    assert check("15 % Rabatt", language="en", rules=rules).passed
    # an opt-out is needed whatever the language; one we cannot read leaves the text for a person
    assert not check("Découvrez notre nouveau module.", purpose="marketing", language="fr").passed


def test_rules_version_names_the_rule_set() -> None:
    default = check("Hallo").rules_version
    assert len(default) == 16 and int(default, 16) >= 0
    assert default == rules_version(DEFAULT_RULES) == rules_version(tuple(reversed(DEFAULT_RULES)))
    assert check("Hallo", rules=rules_from_settings({"disable": ["pressure.scarcity"]})).rules_version != default
    assert check("Hallo", rules=rules_from_settings({"rules": [ORG_RULE]})).rules_version != default
    changed = {**ORG_RULE, "severity": "warn"}
    assert rules_version(rules_from_settings({"rules": [changed]})) != rules_version(rules_from_settings(
        {"rules": [ORG_RULE]}))
    assert rules_from_settings(None) == rules_from_settings({}) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"rules": [{**ORG_RULE, "patterns": ["(unclosed"]}]}, r"'org.no_discount': invalid regex '\(unclosed'"),
        ({"rules": [{**ORG_RULE, "kind": "vibes"}]}, r"'org.no_discount': unknown kind 'vibes'; valid kinds"),
        ({"rules": [{**ORG_RULE, "severity": "error"}]}, r"'org.no_discount': severity must be 'block' or 'warn'"),
        ({"rules": [{**ORG_RULE, "message": ""}]}, r"'org.no_discount': 'message' must say what is wrong"),
        ({"rules": [{**ORG_RULE, "patterns": []}]}, r"'org.no_discount': needs at least one pattern"),
        ({"rules": [{**ORG_RULE, "pattern": ["x"]}]}, r"'org.no_discount': unknown key\(s\) pattern"),
        ({"rules": [{**ORG_RULE, "id": "Bad Id"}]}, r"rule #1: 'id' must match"),
        ({"rules": [ORG_RULE, ORG_RULE]}, r"defined twice: org.no_discount"),
        ({"rules": ORG_RULE}, r"'rules' must be a list"),
        ({"disable": ["pressure.typo"]}, r"cannot disable unknown compliance rule\(s\) pressure.typo"),
        ({"disabled": ["pressure.deadline"]}, r"unknown compliance setting\(s\) disabled"),
        (["pressure.deadline"], r"must be a JSON object"),
    ],
)
def test_bad_settings_say_what_is_wrong(settings: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as error:
        rules_from_settings(settings)
    assert "\n" not in str(error.value)


def test_a_rule_made_in_code_judges_both_languages_with_no_exceptions() -> None:
    rule = Rule("org.x", "pattern", "warn", "mentions x", (r"\bx\b",))
    for language in ("de", "en", None):
        result = check("x marks the spot", language=language, rules=(rule,))
        assert [f.rule_id for f in result.findings] == ["org.x"] and result.passed  # warn: noted, not blocked
    assert not check("no such letter here", language="en", rules=(rule,)).findings
    # the rule set a check reports is the one it used: another rule, another version
    other = Rule("org.x", "pattern", "block", "mentions x", (r"\bx\b",))
    assert check("x", rules=(rule,)).rules_version != check("x", rules=(other,)).rules_version
    assert not check("x", rules=(other,)).passed

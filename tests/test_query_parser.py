"""The offline parser of plain-language search questions (English and German), on questions a rep would type."""

from __future__ import annotations

from datetime import date

import pytest

from salesflow.query_parser import parse_amount, parse_question

TODAY = date(2026, 11, 20)  # a Friday in Q4


@pytest.mark.parametrize(("number", "unit", "value"), [
    ("50", "k", 50_000), ("50.000", None, 50_000), ("50,000", None, 50_000), ("1,5", "Mio", 1_500_000),
    ("2.5", "m", 2_500_000), ("75", "Tsd.", 75_000), ("1.234.567", None, 1_234_567), ("12", None, 12),
])
def test_amounts_in_both_notations(number: str, unit: str | None, value: float) -> None:
    assert parse_amount(number, unit) == value


def test_the_issues_example_question() -> None:
    got = parse_question("deals over 50k closing this quarter where a competitor came up", TODAY)
    assert (got.min_amount, got.max_amount, got.competitor) == (50_000, None, "*")
    assert (got.close_from, got.close_to) == (date(2026, 10, 1), date(2026, 12, 31))
    assert got.entity == "deals" and got.method == "offline_rules"
    assert got.understood == ["over 50k", "this quarter", "competitor"]


@pytest.mark.parametrize(("question", "expected"), [
    ("Deals über 50.000 € im nächsten Quartal", {"min_amount": 50_000, "close_from": date(2027, 1, 1),
                                                  "close_to": date(2027, 3, 31)}),
    ("meine offenen Deals unter 10k diesen Monat", {"owner": "me", "stages": [
        "prospecting", "qualification", "proposal", "negotiation"],
                                                    "max_amount": 10_000, "close_from": date(2026, 11, 1),
                                                    "close_to": date(2026, 11, 30)}),
    ("verlorene Deals gegen Salesforce", {"stages": ["closed_lost"], "competitor": "Salesforce"}),
    ("proposals at Acme between 10k and 1,5 Mio in Q1 2027", {
        "stages": ["proposal"], "company": "Acme", "min_amount": 10_000, "max_amount": 1_500_000,
        "close_from": date(2027, 1, 1), "close_to": date(2027, 3, 31)}),
    ("negotiation deals closing in the next 14 days", {"stages": ["negotiation"], "close_from": TODAY,
                                                       "close_to": date(2026, 12, 4)}),
    ("Verhandlungen mit Konkurrenz im letzten Quartal", {"stages": ["negotiation"], "competitor": "*",
                                                        "close_from": date(2026, 7, 1),
                                                        "close_to": date(2026, 9, 30)}),
    ("won deals this year", {"stages": ["closed_won"], "close_from": date(2026, 1, 1),
                             "close_to": date(2026, 12, 31)}),
])
def test_common_patterns_in_english_and_german(question: str, expected: dict[str, object]) -> None:
    assert parse_question(question, TODAY).filters() == expected


def test_the_quarter_after_q4_is_next_years_first() -> None:
    got = parse_question("next quarter", date(2026, 12, 31))
    assert (got.close_from, got.close_to) == (date(2027, 1, 1), date(2027, 3, 31))


def test_a_question_without_filters_goes_to_the_memory_search_only() -> None:
    got = parse_question("what did Anna say about the onboarding?", TODAY)
    assert got.filters() == {} and got.entity == "memory" and got.understood == []

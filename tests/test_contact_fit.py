"""The contact window's fitted lead weight: leads with habits of their own get their own hours,
leads that answer like everyone else get the organisation's (planted histories, seeded RNG)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import acting_as
from tests.test_recommendations import one, org_with_lead

MONDAY = datetime(2026, 6, 1, tzinfo=UTC)
OFFICE = [(d, h) for d in range(1, 6) for h in range(8, 18)]  # weekdays 08-18 UTC


def planted_org(db: psycopg.Connection, habits: bool, leads: int = 40, each: int = 6) -> tuple[
        uuid.UUID, uuid.UUID, list[uuid.UUID], dict[uuid.UUID, list[tuple[int, int]]]]:
    """An organisation whose leads answer `each` times: at one hour of their own (habits) or at
    hours drawn from one organisation-wide pattern that peaks on Tuesdays at 10 (no habits)."""
    r = random.Random(7 if habits else 11)
    org, rep, _ = org_with_lead(db)
    with acting_as(db, rep):
        ids = [one(db, "select id from api.create_lead(%s, first_name => %s)", (org, f"L{i}")) for i in range(leads)]
    weights = [6.0 if (d, h) == (2, 10) else 1.0 for d, h in OFFICE]
    hours: dict[uuid.UUID, list[tuple[int, int]]] = {}
    rows = []
    for lead in ids:
        own = r.choice(OFFICE)
        hours[lead] = [own if habits else r.choices(OFFICE, weights)[0] for _ in range(each)]
        for w, (d, h) in enumerate(hours[lead]):
            # day d of week w (MONDAY is day 1)
            rows.append((org, lead, MONDAY + timedelta(days=d - 1 + 7 * w, hours=h, minutes=r.randrange(60))))
    with db.cursor() as cur:
        cur.executemany("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                        "values (%s, %s, 'email', 'inbound', 'hi', %s)", rows)
    db.commit()
    one(db, "select salesflow.refresh_contact_patterns(%s)", (org,))
    db.commit()
    return org, rep, ids, hours


def fit(db: psycopg.Connection, org: uuid.UUID) -> tuple[float, bool, int, float]:
    row = db.execute("select lead_weight, estimated, leads, dispersion from salesflow.contact_pattern_fits "
                     "where org_id = %s", (org,)).fetchone()
    assert row is not None
    return row


def top(db: psycopg.Connection, rep: uuid.UUID, org: uuid.UUID, lead: uuid.UUID) -> list[tuple[int, int, float]]:
    with acting_as(db, rep):
        return [(d, h, c) for d, h, c in db.execute(
            "select day_of_week, hour, confidence from api.get_best_contact_window(%s, %s)", (org, lead))]


def test_leads_with_habits_of_their_own_weigh_their_own_history(db: psycopg.Connection) -> None:
    org, rep, ids, hours = planted_org(db, habits=True)
    k, estimated, leads, dispersion = fit(db, org)
    assert estimated and leads == 41 - 1  # the rep's own first lead never answered
    assert dispersion > 3 and k < 2  # every lead keeps to its hour: its history decides early
    for lead in ids[:10]:
        (d, h), = set(hours[lead])
        best = top(db, rep, org, lead)
        assert best[0][:2] == (d, h)
        assert best[0][2] == pytest.approx(6 / (6 + k))


def test_leads_without_habits_get_the_organisations_pattern(db: psycopg.Connection) -> None:
    org, rep, ids, hours = planted_org(db, habits=False)
    k, estimated, _, dispersion = fit(db, org)
    assert estimated and dispersion < 1.5 and k > 50  # nothing beyond chance: the prior decides
    # a lead whose six answers missed the organisation's peak still gets Tuesday 10:00 first
    missed = [lead for lead in ids if (2, 10) not in hours[lead]]
    assert missed
    for lead in missed[:5]:
        assert top(db, rep, org, lead)[0][:2] == (2, 10)


def test_too_few_leads_keep_the_default_weight_and_the_back_test_prior_hides_the_latest(
    db: psycopg.Connection,
) -> None:
    org, rep, ids, _ = planted_org(db, habits=True, leads=10)
    assert fit(db, org)[:2] == (5.0, False)
    total = one(db, "select sum(responses) from salesflow.contact_patterns where org_id = %s and segment = '*'",
                (org,))
    one(db, "select salesflow.refresh_contact_patterns(%s, hide_latest => 2)", (org,))
    hidden = one(db, "select sum(responses) from salesflow.contact_patterns where org_id = %s and segment = '*'",
                 (org,))
    assert (total, hidden) == (60, 40)


def test_a_recency_half_life_lets_a_leads_old_habit_give_way_to_its_new_one(db: psycopg.Connection) -> None:
    org, rep, _, _ = planted_org(db, habits=True, leads=25)
    with acting_as(db, rep):
        lead = one(db, "select id from api.create_lead(%s, first_name => 'Nova')", (org,))
    # a year ago five answers on Monday at 09, this month two on Thursday at 15 (UTC)
    old = [MONDAY - timedelta(days=364 - 7 * w) + timedelta(hours=9) for w in range(5)]
    new = [MONDAY + timedelta(days=28 + 3 + 7 * w, hours=15) for w in range(2)]
    with db.cursor() as cur:
        cur.executemany("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                        "values (%s, %s, 'email', 'inbound', 'hi', %s)", [(org, lead, at) for at in old + new])
    db.execute("update salesflow.contact_pattern_fits set lead_weight = 1, day_pool = 0, hour_pool = 0 "
               "where org_id = %s", (org,))
    db.commit()
    as_of = MONDAY + timedelta(days=60)

    def best() -> tuple[int, int, float]:
        with acting_as(db, rep):
            return db.execute("select day_of_week, hour, confidence from api.get_best_contact_window(%s, %s, %s) "
                              "where rank = 1", (org, lead, as_of)).fetchone()

    assert best()[:2] == (1, 9)  # every answer counts one: the old habit wins
    db.execute("update salesflow.contact_pattern_fits set recency_half_life_days = 14 where org_id = %s", (org,))
    db.commit()
    day, hour, confidence = best()
    assert (day, hour) == (4, 15)
    assert confidence < 7 / 8  # faded answers weigh less than seven full ones against k = 1

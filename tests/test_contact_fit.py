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
    # weeks are thousands of half-lives of 15 minutes: every answer counts nothing (no underflow
    # error), the prior decides with no confidence in the lead's own hours
    db.execute("update salesflow.contact_pattern_fits set recency_half_life_days = 0.01 where org_id = %s", (org,))
    db.commit()
    assert best()[2] == 0


def test_windows_of_several_hours_do_not_overlap_and_a_bad_width_is_refused(db: psycopg.Connection) -> None:
    org, rep, ids, _ = planted_org(db, habits=False, leads=25)
    with acting_as(db, rep):
        rows = db.execute("select rank, day_of_week, hour, label, probability from "
                          "api.get_best_contact_window(%s, %s, window_hours => 3)", (org, ids[0])).fetchall()
        hour_one = one(db, "select probability from api.get_best_contact_window(%s, %s) where rank = 1",
                       (org, ids[0]))
    assert [r[0] for r in rows] == [1, 2, 3]
    starts = [d * 24 + h for _, d, h, _, _ in rows]
    assert all(3 <= (a - b) % 168 <= 165 for i, a in enumerate(starts) for b in starts[:i])
    # the first covers the organisation's peak, Tuesday 10:00, and holds more than its best hour
    assert rows[0][1] == 2 and 8 <= rows[0][2] <= 10
    assert rows[0][3] == f"Tue {rows[0][2]:02d}:00–{rows[0][2] + 3:02d}:00"
    assert rows[0][4] > hour_one and sum(r[4] for r in rows) <= 1
    for width in (0, 13):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="window_hours"), acting_as(db, rep):
            db.execute("select * from api.get_best_contact_window(%s, %s, window_hours => %s)",
                       (org, ids[0], width))


def test_a_thin_organisation_pattern_borrows_its_shape_from_the_day_and_hour_margins(
    db: psycopg.Connection,
) -> None:
    org, rep, _, hours = planted_org(db, habits=True, leads=10)
    with acting_as(db, rep):
        owl, fresh = (one(db, "select id from api.create_lead(%s, first_name => %s)", (org, name))
                      for name in ("Owl", "Fresh"))
    # one lead answers eight Sundays at 20:00: the busiest cell, on the quietest day and hour
    sundays = [MONDAY - timedelta(days=1 + 7 * w) + timedelta(hours=20) for w in range(8)]
    with db.cursor() as cur:
        cur.executemany("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                        "values (%s, %s, 'email', 'inbound', 'hi', %s)", [(org, owl, at) for at in sundays])
    hours[owl] = [(0, 20)] * 8
    db.commit()
    one(db, "select salesflow.refresh_contact_patterns(%s)", (org,))
    days: dict[int, int] = {}
    tods: dict[int, int] = {}
    for answers in hours.values():
        for d, h in answers:
            days[d] = days.get(d, 0) + 1
            tods[h] = tods.get(h, 0) + 1
    product = {d * 24 + h: (days.get(d, 0) + 1) * (tods.get(h, 0) + 1) for d in range(7) for h in range(24)}

    def first(smoothing: float) -> int:
        db.execute("update salesflow.contact_pattern_fits set org_smoothing = %s, segment_weight = 1e6 "
                   "where org_id = %s", (smoothing, org))
        db.commit()
        with acting_as(db, rep):
            d, h = db.execute("select day_of_week, hour from api.get_best_contact_window(%s, %s) where rank = 1",
                              (org, fresh)).fetchone()
        return d * 24 + h

    # a lead without history: nearly no smoothing gives the busiest raw cell, Sunday 20:00; all
    # smoothing gives the busiest day times the busiest hour of the day
    assert first(0.01) == 20
    best = first(1e6)
    assert product[best] == max(product.values()) > product[20]

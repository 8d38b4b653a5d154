"""Lead import and engagement events, against real PostgreSQL."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.conftest import acting_as, authenticate_as


def make_org(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    db.autocommit = True
    owner = uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Acme')").fetchone()[0]
    return org, owner


def imp(conn: psycopg.Connection, org: uuid.UUID, rows: list[dict], **kw: object) -> dict:
    args = ", ".join(f"{k} => %({k})s" for k in kw)
    params = {"org": org, "rows": Jsonb(rows), **{k: Jsonb(v) if isinstance(v, dict) else v for k, v in kw.items()}}
    sql = f"select api.import_leads(%(org)s, %(rows)s{', ' + args if args else ''})"
    return conn.execute(sql, params).fetchone()[0]


ROWS = [
    {"Email": "ada@acme.example", "first_name": "Ada", "age": "36", "job": "admin.", "vip": "yes",
     "signed_up": "2024-01-05", "y": "yes"},
    {"Email": "bob@acme.example", "first_name": "Bob", "age": "41.5", "job": "technician", "vip": "no",
     "signed_up": "2024-02-29", "y": ""},
    {"Email": "cy@acme.example", "first_name": "Cy", "age": "", "job": "admin.", "vip": "no",
     "signed_up": "", "y": "no"},
]


def test_types_outcomes_and_idempotency(db: psycopg.Connection) -> None:
    org, owner = make_org(db)
    with acting_as(db, owner):
        report = imp(db, org, ROWS, field_map={"Email": "email"}, outcome_column="y")
    assert report["errors"] == [] and report["inserted"] == 3 and report["outcomes"] == 2
    assert report["attributes"] == {"age": "number", "job": "category", "vip": "boolean", "signed_up": "date"}
    attrs = dict(db.execute("select email, attributes from salesflow.leads where org_id = %s", (org,)).fetchall())
    assert attrs["ada@acme.example"] == {"age": 36, "job": "admin.", "vip": True, "signed_up": "2024-01-05"}
    assert attrs["cy@acme.example"] == {"job": "admin.", "vip": False}  # empty values stay absent
    status = dict(db.execute("select l.email, c.status from salesflow.lead_conversions as c "
                             "join salesflow.leads as l on l.id = c.lead_id where c.org_id = %s", (org,)).fetchall())
    # an empty outcome is open, never a negative
    assert status == {"ada@acme.example": "converted", "bob@acme.example": "open", "cy@acme.example": "lost"}
    with acting_as(db, owner):
        again = imp(db, org, ROWS, field_map={"Email": "email"}, outcome_column="y")
    assert again["inserted"] == 0 and again["updated"] == 0 and again["outcomes"] == 0
    assert db.execute("select count(*) from salesflow.leads where org_id = %s", (org,)).fetchone()[0] == 3


def test_bad_rows_are_reported_by_line_and_nothing_is_stored(db: psycopg.Connection) -> None:
    org, owner = make_org(db)
    with acting_as(db, owner):
        imp(db, org, ROWS[:1], field_map={"Email": "email"})  # age becomes a number for good
    bad = [
        {"email": "not-an-address", "age": "3"},
        {"email": "ok@acme.example", "age": "old"},
        {"email": "ok@acme.example", "age": "4"},
        {"first_name": "", "age": "5"},
        {"email": "z@acme.example", "source": "carrier pigeon", "y": "maybe"},
        {"email": "fine@acme.example", "age": "7"},
    ]
    with authenticate_as(db, owner):
        with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
            imp(db, org, bad, outcome_column="y", first_line=10)
    assert "5 bad row(s); nothing was imported (first: line 10: email not-an-address" in str(exc.value)
    detail = json.loads(exc.value.diag.message_detail)
    lines = {e["line"]: e["reason"] for e in detail}
    assert set(lines) == {10, 11, 12, 13, 14}
    assert lines[11] == "age = old is not a number"
    assert lines[12] == "duplicate of line 11 (same email)"
    assert "needs at least one of" in lines[13]
    assert "source carrier pigeon is not one of" in lines[14] and "outcome maybe is not yes/no" in lines[14]
    with acting_as(db, owner):
        report = imp(db, org, bad, outcome_column="y", first_line=10, raise_on_error=False)
        assert len(report["errors"]) == 5
    assert db.execute("select count(*) from salesflow.leads where org_id = %s", (org,)).fetchone()[0] == 1
    with acting_as(db, owner):
        dry = imp(db, org, bad[5:], dry_run=True)
    assert dry["inserted"] == 1 and dry["errors"] == []
    assert db.execute("select count(*) from salesflow.leads where org_id = %s", (org,)).fetchone()[0] == 1


def test_external_key_wins_over_email_and_unknown_field_map_is_refused(db: psycopg.Connection) -> None:
    org, owner = make_org(db)
    with acting_as(db, owner):
        key = {"id": "external_key"}
        imp(db, org, [{"id": "crm-1", "email": "a@acme.example", "company": "Acme GmbH"}], field_map=key)
        imp(db, org, [{"id": "crm-1", "email": "new@acme.example", "company": "acme gmbh"}], field_map=key)
    rows = db.execute("select external_key, email, company_id is not null from salesflow.leads where org_id = %s",
                      (org,)).fetchall()
    assert rows == [("crm-1", "new@acme.example", True)]
    assert db.execute("select count(*) from salesflow.companies where org_id = %s", (org,)).fetchone()[0] == 1
    # companies of a batch: by domain (any case), else by name (any case); a new one created once
    with acting_as(db, owner):
        imp(db, org, [{"email": "d1@x.example", "company": "Gamma", "company_domain": "gamma.example"},
                      {"email": "d2@x.example", "company_domain": "GAMMA.example"},
                      {"email": "d3@x.example", "company": "ACME GMBH"},
                      {"email": "d4@x.example", "company": "Delta"}, {"email": "d5@x.example", "company": "delta"}])
    by_email = dict(db.execute("select l.email, c.name || '/' || coalesce(c.domain, '-') from salesflow.leads as l "
                               "join salesflow.companies as c on c.id = l.company_id where l.org_id = %s",
                               (org,)).fetchall())
    assert by_email == {"new@acme.example": "Acme GmbH/-", "d1@x.example": "Gamma/gamma.example",
                        "d2@x.example": "Gamma/gamma.example", "d3@x.example": "Acme GmbH/-",
                        "d4@x.example": "Delta/-", "d5@x.example": "Delta/-"}
    assert db.execute("select count(*) from salesflow.companies where org_id = %s", (org,)).fetchone()[0] == 3
    with authenticate_as(db, owner):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="wibble is not a lead field"):
            imp(db, org, [{"x": "1"}], field_map={"x": "wibble"})


def test_engagement_events_are_idempotent_per_key(db: psycopg.Connection) -> None:
    org, owner = make_org(db)
    with acting_as(db, owner):
        lead = db.execute("select id from api.create_lead(%s, email => 'e@acme.example')", (org,)).fetchone()[0]
        events = [{"lead_id": str(lead), "event_type": "page_view", "occurred_at": "2024-05-01T10:00:00Z",
                   "idempotency_key": f"pv-{i}", "properties": {"path": "/pricing"}} for i in range(3)]
        first = db.execute("select api.record_engagement_events(%s, %s)", (org, Jsonb(events))).fetchone()[0]
        second = db.execute("select api.record_engagement_events(%s, %s)", (org, Jsonb(events))).fetchone()[0]
    assert first == {"stored": 3, "duplicates": 0} and second == {"stored": 0, "duplicates": 3}
    with authenticate_as(db, owner):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="event 2: event_type must be one of"):
            db.execute("select api.record_engagement_events(%s, %s)",
                       (org, Jsonb([events[0] | {"idempotency_key": "n"}, events[1] | {"event_type": "telepathy"}])))
    assert db.execute("select count(*) from salesflow.engagement_events").fetchone()[0] == 3


def test_a_100000_row_file_imports_whole_or_not_at_all(db: psycopg.Connection, db_url: str, tmp_path) -> None:
    import csv
    import io

    from salesflow.intelligence_cli import InputError, import_leads

    org, _ = make_org(db)
    n = 100_000
    path = tmp_path / "leads.csv"

    def write(bad_line: int | None) -> None:
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["external_key", "email", "segment", "employees", "outcome"])
            for i in range(n):
                email = "not-an-address" if i + 2 == bad_line else f"l{i}@bulk.example"  # line 1 is the header
                w.writerow([f"crm-{i}", email, ("smb", "mid", "ent")[i % 3], str(i % 5000),
                            ("yes", "no", "")[i % 3]])

    # one bad address on the file's second-to-last line: nothing of the file is stored
    write(bad_line=n)
    with pytest.raises(InputError) as bad:
        import_leads(db_url, path, str(org), {}, "outcome", None, False, err=io.StringIO())
    assert f"line {n}" in str(bad.value)
    assert db.execute("select count(*) from salesflow.leads where org_id = %s", (org,)).fetchone()[0] == 0
    write(bad_line=None)
    totals = import_leads(db_url, path, str(org), {}, "outcome", None, False, err=io.StringIO())
    assert totals["rows"] == n and totals["inserted"] == n
    counts = db.execute("select count(*), count(*) filter (where attributes ? 'employees') from salesflow.leads "
                        "where org_id = %s", (org,)).fetchone()
    assert counts == (n, n)
    outcomes = db.execute("select count(*) filter (where converted), count(*) filter (where not converted) "
                          "from salesflow.lead_outcomes where org_id = %s", (org,)).fetchone()
    assert outcomes == (33_334, 33_333)  # yes on i % 3 == 0, no on 1, open (no row) on 2


def _rows_read_by_second_batch(db: psycopg.Connection, n: int) -> int:
    """Rows of salesflow.leads and companies read (sequential and through indexes) by importing n new leads
    of n new companies into an org that already holds n of each: a count from the statistics views,
    independent of the machine's speed."""
    org, owner = make_org(db)

    def batch(start: int) -> list[dict]:
        return [{"external_key": f"k-{i}", "email": f"p{i}@scale.example", "tier": ("a", "b")[i % 2],
                 "company": f"Firm {i}", "outcome": ("yes", "no", "")[i % 3]} for i in range(start, start + n)]

    with acting_as(db, owner):
        imp(db, org, batch(0), outcome_column="outcome")
    with authenticate_as(db, owner):  # one transaction, rolled back: its statistics are this batch's
        imp(db, org, batch(n), outcome_column="outcome")
        read = db.execute("select sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)) from "
                          "pg_stat_xact_user_tables where relid in ('salesflow.leads'::regclass, "
                          "'salesflow.companies'::regclass)").fetchone()[0]
    return read


def test_an_import_batch_reads_the_existing_leads_a_linear_number_of_times(db: psycopg.Connection) -> None:
    # a per-row lookup that scans the org's leads (the regression that made one batch of a 100,000-row
    # file run over 10 minutes) or its companies (matched by name) reads n x n rows: 8 times the rows
    # would read 64 times as many
    small, large = _rows_read_by_second_batch(db, 150), _rows_read_by_second_batch(db, 1200)
    assert small > 0
    assert large < 16 * small, (small, large)

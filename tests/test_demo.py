"""The demo data generator: what it writes, that it writes the same thing twice, and its SQL twin."""

from __future__ import annotations

import subprocess
from collections import Counter

import psycopg
import pytest
from psycopg import sql

from salesflow.db.embedded import psql_path
from salesflow.demo import DEFAULT_ORG_NAME, TABLES, load_demo, seed_sql
from tests.conftest import clone_database

LEADS, ACTIVITIES_PER_LEAD = 300, 6.0


def org_counts(conn: psycopg.Connection, org_id: object) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        column = sql.Identifier("id" if table == "organizations" else "org_id")
        query = sql.SQL("select count(*) from {} where {} = %s").format(
            sql.Identifier("salesflow", table), column)
        counts[table] = conn.execute(query, (org_id,)).fetchone()[0]
    return counts


def fingerprint(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and a hash over every row's text, per table: equal only if the rows are identical."""
    result = {}
    for table in TABLES:
        query = sql.SQL("select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) "
                        "from {} as t").format(sql.Identifier("salesflow", table))
        result[table] = conn.execute(query).fetchone()
    return result


def enum_values(conn: psycopg.Connection, type_name: str) -> set[str]:
    query = sql.SQL("select unnest(enum_range(null::{}))::text")
    return {row[0] for row in conn.execute(query.format(sql.Identifier("salesflow", type_name)))}


@pytest.fixture
def demo(db: psycopg.Connection):
    return load_demo(db, leads=LEADS, seed=42, activities_per_lead=ACTIVITIES_PER_LEAD)


def test_counts_match_the_database_and_are_committed(db, db_url, demo):
    assert demo.counts["leads"] == LEADS
    assert demo.counts["activities"] == LEADS * ACTIVITIES_PER_LEAD  # exact, not just on average
    assert demo.counts["companies"] == LEADS // 8
    assert demo.counts["deals"] > 0 and demo.counts["messages"] > 0 and demo.counts["channel_identities"] > 0
    with psycopg.connect(db_url) as other:  # another session sees the rows: the load committed
        assert org_counts(other, demo.org_id) == demo.counts


def test_members_are_the_returned_users(db, demo):
    assert demo.org_name == DEFAULT_ORG_NAME
    assert Counter(u.role for u in demo.users) == {"owner": 1, "admin": 1, "rep": 4, "analyst": 1}
    rows = db.execute("select user_id, role::text, display_name, email from salesflow.org_members "
                      "where org_id = %s", (demo.org_id,)).fetchall()
    assert sorted(rows) == sorted((u.user_id, u.role, u.display_name, u.email) for u in demo.users)
    slug = db.execute("select slug from salesflow.organizations where id = %s", (demo.org_id,)).fetchone()[0]
    assert slug == "nordwind-demo-gmbh"


def test_every_stage_source_and_both_languages_appear(db, demo):
    def values(column: str, table: str) -> set[str]:
        return {row[0] for row in db.execute(f"select distinct {column}::text from salesflow.{table}")}

    assert values("lifecycle_stage", "leads") == enum_values(db, "lifecycle_stage")
    assert values("stage", "deals") == enum_values(db, "deal_stage")
    assert values("source", "leads") == enum_values(db, "lead_source")
    assert values("kind", "activities") == enum_values(db, "activity_kind")
    assert values("language", "leads") == values("language", "messages") == {"de", "en"}
    assert values("channel", "messages") == {"email", "whatsapp", "linkedin"}


def test_distributions_look_like_a_real_crm(db, demo):
    share_de, share_deals, unowned, by_admin = db.execute("""
        select avg((language = 'de')::int), (select count(*) from salesflow.deals)::float / count(*),
               count(*) filter (where owner_id is null),
               count(*) filter (where owner_id = (
                   select user_id from salesflow.org_members where role = 'admin'))
        from salesflow.leads""").fetchone()
    assert 0.45 < share_de < 0.75
    assert 0.2 < share_deals < 0.45
    assert 0 < unowned < 0.15 * LEADS and 0 < by_admin < 0.25 * LEADS
    funnel = dict(db.execute("select lifecycle_stage::text, count(*) from salesflow.leads group by 1"))
    assert funnel["lead"] > funnel["sql"] > funnel["evangelist"]
    currencies = {row[0] for row in db.execute("select distinct currency from salesflow.deals")}
    assert "EUR" in currencies and len(currencies) > 1


def test_rows_are_consistent_beyond_the_constraints(db, demo):
    # last_activity_at is what the (disabled) bump triggers would have made of the same rows
    assert db.execute("""
        select count(*) from salesflow.leads as l
        where l.last_activity_at is distinct from (
            select max(t) from (
                select a.occurred_at from salesflow.activities as a where a.lead_id = l.id
                union all
                select m.sent_at from salesflow.messages as m where m.lead_id = l.id
            ) as touches (t))""").fetchone()[0] == 0
    assert db.execute("""
        select count(*) from salesflow.activities as a join salesflow.leads as l on l.id = a.lead_id
        where a.occurred_at <= l.created_at or a.occurred_at > '2026-11-01T09:00:00Z'""").fetchone()[0] == 0
    # leads write at their company's domain, from a phone number of the region
    assert db.execute("""
        select count(*) from salesflow.leads as l join salesflow.companies as c on c.id = l.company_id
        where l.email not like '%@' || c.domain""").fetchone()[0] == 0
    regions = "select count(*) from salesflow.leads where phone !~ '^\\+(49|43|41|44|1|31)[0-9]{6,}$'"
    assert db.execute(regions).fetchone()[0] == 0
    # threads alternate between the lead and the rep, in order
    assert db.execute("""
        select count(*) from (
            select direction, lag(direction) over w as previous, sent_at, lag(sent_at) over w as previous_at
            from salesflow.messages window w as (partition by lead_id order by sent_at)
        ) as m where direction = previous or sent_at <= previous_at""").fetchone()[0] == 0
    # the per-row triggers are back on
    states = db.execute("select tgname, tgenabled from pg_trigger where tgname like '%bump_lead'").fetchall()
    assert sorted(states) == [("activities_bump_lead", "O"), ("messages_bump_lead", "O")]


def test_same_seed_gives_identical_rows_in_another_database(db, pg_server, postgresql_template, demo):
    with clone_database(pg_server, postgresql_template.template_dbname) as url, psycopg.connect(url) as other:
        again = load_demo(other, leads=LEADS, seed=42, activities_per_lead=ACTIVITIES_PER_LEAD)
        assert again.org_id == demo.org_id and again.users == demo.users
        assert fingerprint(other) == fingerprint(db)


def test_another_seed_gives_other_rows(db, pg_server, postgresql_template, demo):
    with clone_database(pg_server, postgresql_template.template_dbname) as url, psycopg.connect(url) as other:
        load_demo(other, leads=LEADS, seed=43, activities_per_lead=ACTIVITIES_PER_LEAD)
        ours, theirs = fingerprint(db), fingerprint(other)
        assert all(ours[table][1] != theirs[table][1] for table in TABLES)
        lead_ids = {row[0] for row in other.execute("select id from salesflow.leads")}
    assert not lead_ids & {row[0] for row in db.execute("select id from salesflow.leads")}


def test_seed_sql_is_deterministic_and_loads_the_same_rows(db, pg_server, postgresql_template, tmp_path):
    text = seed_sql()
    assert text == seed_sql(leads=25, seed=7)
    assert text != seed_sql(leads=25, seed=8)
    assert "''" in text  # quotes that must be doubled: psql below would choke on a bad one
    script = tmp_path / "seed.sql"
    script.write_text(text, encoding="utf-8")
    with clone_database(pg_server, postgresql_template.template_dbname) as url:
        command = [str(psql_path()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(script)]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stderr
        with psycopg.connect(url) as seeded:
            from_sql = fingerprint(seeded)
    result = load_demo(db, leads=25, seed=7)
    assert {table: count for table, (count, _) in from_sql.items()} == result.counts
    assert from_sql == fingerprint(db)


def test_loading_an_existing_org_again_fails_and_keeps_the_first(db, db_url, demo):
    with pytest.raises(ValueError, match="nordwind-demo-gmbh.*already exists"):
        load_demo(db, leads=20, seed=1)
    assert org_counts(db, demo.org_id) == demo.counts
    assert db.execute("select count(*) from salesflow.organizations").fetchone()[0] == 1
    # another name is another organisation: same seed, own ids, both intact
    second = load_demo(db, leads=20, seed=42, org_name="Südwind Demo AG")
    assert second.org_id != demo.org_id
    db.commit()  # the checks above opened a transaction, so the load was a savepoint in it
    with psycopg.connect(db_url) as other:
        assert org_counts(other, demo.org_id) == demo.counts
        assert org_counts(other, second.org_id) == second.counts
        assert other.execute("select slug from salesflow.organizations where id = %s",
                             (second.org_id,)).fetchone()[0] == "suedwind-demo-ag"


@pytest.mark.parametrize(("arguments", "message"), [
    ({"leads": 9}, "leads must be an integer of at least 10"),
    ({"activities_per_lead": -1.0}, "activities_per_lead"),
    ({"org_name": "  !! "}, "org_name"),
])
def test_bad_arguments_are_refused_before_anything_is_written(db, arguments, message):
    with pytest.raises(ValueError, match=message):
        load_demo(db, **arguments)
    assert db.execute("select count(*) from salesflow.organizations").fetchone()[0] == 0

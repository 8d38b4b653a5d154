"""Structure in SQL (issue 9, section 6): one inlined owner/rep policy helper, normalisation in
BEFORE triggers shared by COPY and RPCs, and API row types apart from the tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.conftest import acting_as, authenticate_as


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    owner: uuid.UUID
    admin: uuid.UUID
    rep: uuid.UUID
    other_rep: uuid.UUID


def one(conn: psycopg.Connection, query: str, params: Any = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def org(db: psycopg.Connection) -> Org:
    db.autocommit = True
    owner, admin, rep, other_rep = (uuid.uuid4() for _ in range(4))
    with acting_as(db, owner):
        org_id = one(db, "select id from api.create_organization('Acme')")
        for user, role in ((admin, "admin"), (rep, "rep"), (other_rep, "rep")):
            db.execute("select api.add_org_member(%s, %s, %s)", (org_id, user, role))
    return Org(org_id, owner, admin, rep, other_rep)


def lead_of(db: psycopg.Connection, org: Org, user: uuid.UUID, name: str = "Ada") -> uuid.UUID:
    with acting_as(db, user):
        return one(db, "select id from api.create_lead(%s, first_name => %s)", (org.id, name))


# -- one inlined owner/rep helper ---------------------------------------------------------------
def plan(conn: psycopg.Connection, query: str, params: Any) -> str:
    return "\n".join(r[0] for r in conn.execute("explain (verbose, costs off) " + query, params))


@pytest.mark.parametrize("table", ["leads", "deals", "activities"])
def test_the_owner_rep_predicate_is_inlined_and_looked_up_once_per_statement(db: psycopg.Connection, org: Org,
                                                                              table: str) -> None:
    with authenticate_as(db, org.rep) as conn:
        text = plan(conn, f"update salesflow.{table} set owner_id = owner_id where org_id = %s and id = %s",
                    (org.id, uuid.uuid4()))
    # inlined: the predicate is in the plan, not a call of the helper
    assert "may_write_owned" not in text and "&&" in text, text
    # the caller's keys are init plans, one for USING and one for WITH CHECK, not a call per row
    assert text.count("my_write_keys()") == 2 and "InitPlan" in text, text
    # and the row is found through an index on (org_id, id), as with the predicate written out
    assert f"Index Scan using {table}_" in text and f"{table}.id = " in text.split("Index Cond:")[1], text


def test_org_members_policies_inline_their_helper(db: psycopg.Connection, org: Org) -> None:
    with authenticate_as(db, org.admin) as conn:
        text = plan(conn, "delete from salesflow.org_members where org_id = %s and user_id = %s", (org.id, org.rep))
    assert "may_manage_member" not in text and text.count("my_member_keys()") == 1, text
    assert "Index Scan using org_members_" in text, text


def test_the_helper_keeps_what_each_role_may_write(db: psycopg.Connection, org: Org) -> None:
    mine, theirs = lead_of(db, org, org.rep, "Mine"), lead_of(db, org, org.other_rep, "Theirs")
    update = "update salesflow.leads set title = 'Edited' where org_id = %s and id = %s"
    reached = {}
    for label, user in (("rep on own", org.rep), ("admin", org.admin), ("owner", org.owner)):
        with authenticate_as(db, user) as conn:
            reached[label] = conn.execute(update, (org.id, mine)).rowcount
    with authenticate_as(db, org.rep) as conn:
        reached["rep on another's"] = conn.execute(update, (org.id, theirs)).rowcount
        # nor may a rep create a lead for someone else
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into salesflow.leads (org_id, first_name, owner_id) values (%s, 'X', %s)",
                         (org.id, org.other_rep))
    assert reached == {"rep on own": 1, "admin": 1, "owner": 1, "rep on another's": 0}


def test_admins_manage_members_but_not_owners(db: psycopg.Connection, org: Org) -> None:
    with authenticate_as(db, org.admin) as conn:
        demote_owner = conn.execute("update salesflow.org_members set role = 'rep' where org_id = %s and user_id = %s",
                                    (org.id, org.owner)).rowcount
        promote_rep = conn.execute("update salesflow.org_members set role = 'analyst' where org_id = %s "
                                   "and user_id = %s", (org.id, org.rep)).rowcount
    with authenticate_as(db, org.rep) as conn:
        by_rep = conn.execute("delete from salesflow.org_members where org_id = %s and user_id = %s",
                              (org.id, org.other_rep)).rowcount
    assert (demote_owner, promote_rep, by_rep) == (0, 1, 0)


# -- normalisation in BEFORE triggers, shared by COPY and RPCs ----------------------------------
def copy_rows(conn: psycopg.Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def test_copy_stores_emails_phones_domains_and_addresses_normalised(db: psycopg.Connection, org: Org) -> None:
    copy_rows(db, "copy salesflow.companies (org_id, name, domain, country) from stdin",
              [(org.id, "Acme", "  ACME.Example ", "de")])
    copy_rows(db, "copy salesflow.leads (org_id, first_name, email, phone) from stdin",
              [(org.id, "Ada", "  Ada@Example.COM ", "0049 (151) 123-456-78")])
    lead = one(db, "select id from salesflow.leads where org_id = %s and first_name = 'Ada'", (org.id,))
    copy_rows(db, "copy salesflow.channel_identities (org_id, channel, address, lead_id) from stdin",
              [(org.id, "whatsapp", "+49 151 1234 5678", lead), (org.id, "email", " ADA@Example.com", lead)])
    assert db.execute("select domain, country from salesflow.companies where org_id = %s", (org.id,)).fetchone() == (
        "acme.example", "DE")
    assert db.execute("select email, phone from salesflow.leads where id = %s", (lead,)).fetchone() == (
        "ada@example.com", "+4915112345678")
    assert sorted(r[0] for r in db.execute("select address from salesflow.channel_identities where org_id = %s",
                                           (org.id,))) == ["+4915112345678", "ada@example.com"]
    # what COPY stored is found by the RPCs' lookups
    with authenticate_as(db, org.rep) as conn:
        found = one(conn, "select id from api.find_lead_by_address(%s, 'whatsapp', %s)", (org.id, "0049151 12345678"))
    assert found == lead


def test_rpcs_and_plain_updates_store_the_same_form(db: psycopg.Connection, org: Org) -> None:
    with authenticate_as(db, org.rep) as conn:
        lead = one(conn, "select id from api.create_lead(%s, first_name => 'Bo', email => ' Bo@X.example', "
                         "phone => '+49 170 1234567')", (org.id,))
        company = one(conn, "select id from api.create_company(%s, 'X', domain => ' X.Example ')", (org.id,))
        stored = conn.execute("select email, phone from salesflow.leads where id = %s", (lead,)).fetchone()
        domain = one(conn, "select domain from salesflow.companies where id = %s", (company,))
        one(conn, "select id from api.update_lead(%s, %s, %s)", (org.id, lead, '{"email": "BO@Y.example "}'))
        via_rpc = one(conn, "select email from salesflow.leads where id = %s", (lead,))
        conn.execute("update salesflow.leads set phone = '0049-170-7654321' where id = %s", (lead,))
        via_update = one(conn, "select phone from salesflow.leads where id = %s", (lead,))
    assert (stored, domain, via_rpc, via_update) == (
        ("bo@x.example", "+491701234567"), "x.example", "bo@y.example", "+491707654321")


def test_one_trigger_function_normalises_every_table_by_its_arguments(db: psycopg.Connection, org: Org) -> None:
    triggers = dict(db.execute("""
        select t.tgname::text, t.tgfoid::regproc::text from pg_catalog.pg_trigger as t
        where t.tgname in ('leads_normalize', 'companies_normalize', 'channel_identities_normalize')
    """).fetchall())
    assert set(triggers.values()) == {"salesflow.normalize_columns"} and len(triggers) == 3
    # a table wired with a form the function does not know is refused with the reason, not stored raw
    with db.transaction(force_rollback=True):
        db.execute("create trigger zz_bad before update of title on salesflow.leads for each row "
                   "execute function salesflow.normalize_columns('title:shouting')")
        lead = lead_of(db, org, org.rep)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown form shouting of column title"):
            db.execute("update salesflow.leads set title = 'x' where id = %s", (lead,))


def test_the_suppression_trigger_sees_the_normalised_address(db: psycopg.Connection, org: Org) -> None:
    db.execute("insert into salesflow.suppressions (org_id, identifier_hash) "
               "values (%s, salesflow.identifier_hash('email:gone@example.com'))", (org.id,))
    with pytest.raises(psycopg.Error) as refused:
        copy_rows(db, "copy salesflow.leads (org_id, first_name, email) from stdin",
                  [(org.id, "Gone", " Gone@Example.com")])
    assert refused.value.sqlstate == "PT409"


# -- an API contract apart from the tables ------------------------------------------------------
CONTRACT_TABLES = ("companies", "leads", "deals", "activities", "messages")
# 14_api_row_types.sql
MORE_CONTRACT_TABLES = ("organizations", "org_members", "channel_identities", "ai_suggestions", "outbox",
                        "ai_drafts", "memory_facts", "llm_feedback", "prompt_versions", "lead_merges",
                        "erasure_requests", "lead_consents")


def test_no_rpc_returns_a_row_type_of_the_private_schema(db: psycopg.Connection) -> None:
    """Over the catalog: no api function returns, or has a result column of, a composite type that
    lives outside `api` (a table's own row type, or a type kept beside the tables)."""
    leaking = db.execute("""
        select p.oid::regprocedure::text, pg_catalog.format_type(t.oid, null)
        from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        cross join lateral unnest(array[p.prorettype] || coalesce(p.proallargtypes, '{}')) as r (typ)
        join pg_catalog.pg_type as t on t.oid = r.typ
            or (t.typarray = r.typ)  -- an array of rows leaks them too
        where n.nspname = 'api' and t.typtype = 'c' and t.typnamespace <> 'api'::regnamespace
    """).fetchall()
    assert leaking == []
    # the api row types are views that run as the caller, and no app role may read them directly
    views = dict(db.execute("""
        select c.relname, c.reloptions from pg_catalog.pg_class as c
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = 'api' and c.relkind = 'v'
    """).fetchall())
    contract = set(CONTRACT_TABLES) | set(MORE_CONTRACT_TABLES)
    assert contract <= set(views)
    assert all(views[t] == ["security_invoker=on"] for t in contract)
    for role in ("anon", "authenticated", "service_role"):
        for table in ("leads", *MORE_CONTRACT_TABLES):
            assert not one(db, "select has_table_privilege(%s, %s, 'select')", (role, f"api.{table}")), (role, table)


def test_an_internal_column_does_not_change_what_the_rpcs_return(db: psycopg.Connection, org: Org) -> None:
    lead = lead_of(db, org, org.rep)
    calls = {
        "get_lead": ("select to_jsonb(r) from api.get_lead(%s, %s) as r", (org.id, lead)),
        "list_leads": ("select to_jsonb(r) from api.list_leads(%s) as r limit 1", (org.id,)),
        "update_lead": ("select to_jsonb(r) from api.update_lead(%s, %s, '{\"title\": \"CTO\"}') as r", (org.id, lead)),
        "create_lead": ("select to_jsonb(r) from api.create_lead(%s, first_name => 'Bo') as r", (org.id,)),
    }

    def keys() -> dict[str, list[str]]:
        with authenticate_as(db, org.rep) as conn:
            return {name: sorted(one(conn, q, p)) for name, (q, p) in calls.items()}

    before = keys()
    assert "email" in before["get_lead"] and before["get_lead"] == before["list_leads"] == before["create_lead"]
    with db.transaction(force_rollback=True):
        db.execute("alter table salesflow.leads add column erasure_pending boolean not null default false, "
                   "add column decay_score real default 0.5")
        # the table's own row type has the new columns; the API's does not
        assert {"erasure_pending", "decay_score"} <= set(one(db, "select to_jsonb(l) from salesflow.leads as l "
                                                                 "where l.id = %s", (lead,)))
        after = keys()
    assert after == before


def test_an_internal_column_changes_no_output_of_the_member_channel_suggestion_and_outbox_rpcs(
        db: psycopg.Connection, org: Org) -> None:
    lead = lead_of(db, org, org.rep)
    with acting_as(db, org.rep):
        db.execute("select api.link_channel_identity(%s, 'email', 'ada@example.com', %s)", (org.id, lead))
        message = one(db, "select id from api.create_message(%s, %s, 'email', 'inbound', 'Budget 40k')", (org.id, lead))
    request = one(db, "insert into salesflow.llm_requests (org_id, started_at, task, provider, model, cost, status) "
                      "values (%s, now(), 'classify', 'local', 'm', 0, 'ok') returning id", (org.id,))
    suggestion = one(db, "insert into salesflow.ai_suggestions (org_id, lead_id, kind, content, request_id) "
                         "values (%s, %s, 'next_actions', '{}', %s) returning id", (org.id, lead, request))
    newcomer = uuid.uuid4()
    calls = {  # run in this order as the owner, in one rolled-back transaction
        "create_organization": ("api.create_organization('Beta')", ()),
        "add_org_member": ("api.add_org_member(%s, %s, 'rep')", (org.id, newcomer)),
        "list_org_members": ("api.list_org_members(%s)", (org.id,)),
        "remove_org_member": ("api.remove_org_member(%s, %s)", (org.id, newcomer)),
        "link_channel_identity": ("api.link_channel_identity(%s, 'whatsapp', '+49 151 1234 5678', %s)", (org.id, lead)),
        "list_channel_identities": ("api.list_channel_identities(%s, %s)", (org.id, lead)),
        "unlink_channel_identity": ("api.unlink_channel_identity(%s, 'whatsapp', '+4915112345678')", (org.id,)),
        "list_ai_suggestions": ("api.list_ai_suggestions(%s)", (org.id,)),
        "record_llm_feedback": ("api.record_llm_feedback(%s, %s, rating => 1::smallint)", (org.id, request)),
        # after the feedback: a review also rates the request, once
        "review_ai_suggestion": ("api.review_ai_suggestion(%s, %s, 'accepted')", (org.id, suggestion)),
        "queue_outbound_message": ("api.queue_outbound_message(%s, %s, 'email', 'Hello')", (org.id, lead)),
        "list_outbound_messages": ("api.list_outbound_messages(%s)", (org.id,)),
        "record_memory_fact": ("api.record_memory_fact(%s, %s, 'budget', 'Budget 40k', %s, 'Budget 40k')",
                               (org.id, lead, message)),
        "list_memory_facts": ("api.list_memory_facts(%s, %s)", (org.id, lead)),
        "set_lead_consent": ("api.set_lead_consent(%s, %s, 'email', true, true)", (org.id, lead)),
    }

    def keys() -> dict[str, list[str]]:
        with authenticate_as(db, org.owner) as conn:
            return {name: sorted(one(conn, f"select to_jsonb(r) from {call} as r limit 1", p))
                    for name, (call, p) in calls.items()}

    before = keys()
    assert "role" in before["list_org_members"] and "address" in before["list_channel_identities"]
    assert before["add_org_member"] == before["list_org_members"] == before["remove_org_member"]
    assert before["queue_outbound_message"] == before["list_outbound_messages"]
    with db.transaction(force_rollback=True):
        for table in MORE_CONTRACT_TABLES:
            db.execute(f"alter table salesflow.{table} add column erasure_pending boolean not null default false")
        after = keys()
    assert after == before
    assert all("erasure_pending" not in k for k in after.values())


def test_internal_search_columns_stay_out_of_message_and_activity_outputs(db: psycopg.Connection, org: Org) -> None:
    lead = lead_of(db, org, org.rep)
    with authenticate_as(db, org.rep) as conn:
        message = one(conn, "select to_jsonb(r) from api.create_message(%s, %s, 'email', 'inbound', 'Hello') as r",
                      (org.id, lead))
        bulk = one(conn, "select to_jsonb(r) from api.create_messages(%s, %s) as r",
                   (org.id, psycopg.types.json.Jsonb([{"lead_id": str(lead), "channel": "email",
                                                      "direction": "inbound", "body": "Again"}])))
        activity = one(conn, "select to_jsonb(r) from api.create_activity(%s, 'note', lead_id => %s, "
                             "body => 'Called') as r", (org.id, lead))
        stored = one(conn, "select search_words is not null from salesflow.messages where id = %s", (message["id"],))
    assert stored  # the column exists and is filled; the API just does not show it
    assert "search_words" not in message and "search_words" not in bulk and "search_words" not in activity
    assert message["body"] == "Hello" and bulk["body"] == "Again" and activity["body"] == "Called"


def test_reapplying_objects_replaces_an_rpc_that_still_returns_the_table_row(db: psycopg.Connection) -> None:
    """An installation from before the contract: its get_lead returns salesflow.leads."""
    from salesflow.db.migrate import migrate

    result = "select pg_get_function_result('api.get_lead(uuid, uuid)'::regprocedure)"
    with db.transaction(force_rollback=True):
        db.execute("drop function api.get_lead(uuid, uuid)")
        db.execute("create function api.get_lead(org_id uuid, lead_id uuid) returns salesflow.leads "
                   "language sql stable as 'select l from salesflow.leads as l where l.id = lead_id'")
        db.execute("drop function api.get_conversation(uuid, uuid)")
        db.execute("create function api.get_conversation(org_id uuid, conversation_id uuid) "
                   "returns table (turn_id bigint) language sql stable as 'select 1::bigint'")
        assert one(db, result) == "salesflow.leads"
        assert migrate(db, reapply_objects=True).objects_applied
        assert one(db, result) == "api.leads"
        assert "tokens integer" in one(db, "select pg_get_function_result('api.get_conversation(uuid, uuid)'"
                                           "::regprocedure)")
        # and once more: nothing left to drop, the same result
        assert migrate(db, reapply_objects=True).objects_applied
        assert one(db, result) == "api.leads"

"""Correctness found in the security review (issue 9, section 5): the schema passes splinter's
index and key lints, an organisation keeps an owner, a moved text's vectors follow it, and a token
must say when it expires."""

from __future__ import annotations

import time
import uuid

import jwt
import psycopg
import pytest

from salesflow.api.auth import caller_from_headers
from salesflow.api.errors import ApiError
from tests.conftest import JWT_SECRET, acting_as, authenticate_as
from tests.test_rpc_crud import error, make_org, one

# splinter 0001 (unindexed_foreign_keys): a foreign key is covered when some index on the table
# starts with exactly its columns, in any order. Our own query of the catalog, same rule.
UNINDEXED_FOREIGN_KEYS = """
select c.conrelid::regclass::text || ' (' || (
    select string_agg(a.attname, ', ' order by a.attnum) from pg_attribute as a
    where a.attrelid = c.conrelid and a.attnum = any(c.conkey)) || ')'
from pg_constraint as c
join pg_namespace as n on n.oid = c.connamespace
where c.contype = 'f' and n.nspname in ('salesflow', 'api')
  and not exists (
      select from pg_index as i
      where i.indrelid = c.conrelid
        and (select array_agg(k order by k) from unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) as k)
            = (select array_agg(k order by k) from unnest(c.conkey) as k)
  )
order by 1
"""
# splinter 0004 (no_primary_key)
NO_PRIMARY_KEY = """
select t.oid::regclass::text from pg_class as t join pg_namespace as n on n.oid = t.relnamespace
where t.relkind in ('r', 'p') and n.nspname in ('salesflow', 'api')
  and not exists (select from pg_constraint as c where c.conrelid = t.oid and c.contype = 'p')
order by 1
"""
DEFINER_RPCS = """
select p.oid::regprocedure::text, coalesce(obj_description(p.oid, 'pg_proc'), '')
from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
where n.nspname = 'api' and p.prosecdef
order by 1
"""


def test_every_foreign_key_has_a_covering_index(db: psycopg.Connection) -> None:
    assert db.execute(UNINDEXED_FOREIGN_KEYS).fetchall() == []


def test_every_table_has_a_primary_key(db: psycopg.Connection) -> None:
    assert db.execute(NO_PRIMARY_KEY).fetchall() == []


def test_every_security_definer_rpc_justifies_itself_in_its_comment(db: psycopg.Connection) -> None:
    rows = db.execute(DEFINER_RPCS).fetchall()
    assert rows, "no security definer RPC left: drop this test's expectation"
    unjustified = [name for name, comment in rows if "security definer, justified:" not in comment]
    assert unjustified == []


def test_usage_rollup_still_upserts_one_row_per_key(db: psycopg.Connection) -> None:
    org = make_org(db)
    for _ in range(3):
        db.execute("select salesflow.settle_request(null, %s, 'probe', 'p', 'm', now(), 'ok')", (org.id,))
    assert db.execute("select count(*), sum(requests) from salesflow.llm_usage_daily where org_id = %s",
                      (org.id,)).fetchone() == (1, 3)


# -- an organisation keeps an owner -------------------------------------------------------------
def test_the_last_owner_can_neither_leave_nor_be_demoted(db: psycopg.Connection) -> None:
    org = make_org(db)
    with authenticate_as(db, org.owner):
        exc = error(db, "select api.remove_org_member(%s, %s)", (org.id, org.owner))
        assert exc.sqlstate == "23514" and "last owner" in str(exc)
        exc = error(db, "update salesflow.org_members set role = 'admin' where org_id = %s and user_id = %s",
                    (org.id, org.owner))
        assert exc.sqlstate == "23514"
    # with a second owner, either may go
    with acting_as(db, org.owner):
        db.execute("update salesflow.org_members set role = 'owner' where org_id = %s and user_id = %s",
                   (org.id, org.admin))
        db.execute("select api.remove_org_member(%s, %s)", (org.id, org.owner))
    assert one(db, "select array_agg(user_id) as owners from salesflow.org_members where org_id = %s "
                   "and role = 'owner'", (org.id,))["owners"] == [org.admin]
    with authenticate_as(db, org.admin):
        assert error(db, "select api.remove_org_member(%s, %s)", (org.id, org.admin)).sqlstate == "23514"
    # deleting the organisation still takes every member, the last owner too
    db.execute("delete from salesflow.organizations where id = %s", (org.id,))
    assert db.execute("select count(*) from salesflow.org_members where org_id = %s", (org.id,)).fetchone() == (0,)


# -- a moved message takes its vector along ------------------------------------------------------
def test_moving_a_message_to_another_lead_moves_its_vector(db: psycopg.Connection) -> None:
    org = make_org(db)
    with acting_as(db, org.owner):
        first = one(db, "select id from api.create_lead(org_id => %s, first_name => 'Ada')", (org.id,))["id"]
        second = one(db, "select id from api.create_lead(org_id => %s, first_name => 'Bea')", (org.id,))["id"]
        message = one(db, "select id from api.create_message(%s, %s, 'email', 'inbound', 'Please call me')",
                      (org.id, first))["id"]
    # the vector as the embed_texts job stores it
    db.execute(
        "insert into salesflow.embeddings (org_id, source, source_id, model, dimension, lead_id, channel, "
        "occurred_at, content, content_hash, embedding) "
        "select m.org_id, 'message', m.id, 'all-MiniLM-L6-v2', 384, m.lead_id, m.channel, m.sent_at, m.body, "
        "md5(m.body), array_fill(0.05, array[384])::real[]::extensions.vector "
        "from salesflow.messages as m where m.id = %s", (message,))
    with acting_as(db, org.owner):
        db.execute("select api.update_message(%s, %s, jsonb_build_object('lead_id', %s::uuid))",
                   (org.id, message, second))
    assert db.execute("select lead_id from salesflow.embeddings where source_id = %s", (message,)).fetchone() == (
        second,)
    with acting_as(db, org.owner):
        db.execute("select api.delete_lead(%s, %s)", (org.id, first))
    assert db.execute("select count(*) from salesflow.embeddings where source_id = %s", (message,)).fetchone() == (1,)


# -- tokens must expire --------------------------------------------------------------------------
def _token(**claims: object) -> str:
    return jwt.encode({"role": "authenticated", "sub": str(uuid.uuid4()), **claims}, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize("claims", [{}, {"exp": str(int(time.time()) + 3600)}, {"exp": None}, {"exp": True},
                                    {"exp": [1]}])
def test_a_token_without_a_numeric_exp_is_refused(claims: dict[str, object]) -> None:
    with pytest.raises(ApiError) as info:
        caller_from_headers(f"Bearer {_token(**claims)}", None, JWT_SECRET)
    assert info.value.status == 401
    assert "exp" in info.value.message


def test_a_token_with_a_numeric_exp_is_accepted() -> None:
    caller = caller_from_headers(f"Bearer {_token(exp=int(time.time()) + 60)}", None, JWT_SECRET)
    assert caller.role == "authenticated"
    caller = caller_from_headers(f"Bearer {_token(exp=time.time() + 60.5)}", None, JWT_SECRET)
    assert caller.authenticated


# -- appearing in `api` grants nothing -------------------------------------------------------------
def test_a_new_api_function_is_not_executable_until_granted(db: psycopg.Connection) -> None:
    from salesflow.db.migrate import load_objects

    db.execute("create function api.probe_ungranted() returns int language sql stable security invoker "
               "set search_path = '' as $$ select 1 $$")
    grants = next(f for f in load_objects() if f.name == "90_grants.sql")
    db.execute(grants.text.encode())
    for role in ("anon", "authenticated", "service_role"):
        assert db.execute("select has_function_privilege(%s, 'api.probe_ungranted()', 'execute')",
                          (role,)).fetchone() == (False,), role
    assert db.execute("select has_function_privilege('authenticated', 'api.list_leads(uuid, "
                      "salesflow.lifecycle_stage, uuid, uuid, text, integer, timestamptz, uuid)', 'execute')"
                      ).fetchone() == (True,)

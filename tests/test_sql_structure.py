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

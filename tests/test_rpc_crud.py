"""The CRUD RPCs for companies, deals, activities, messages and channel identities, under RLS.

Set-up commits as a user (acting_as); checks run as a user in a rolled-back transaction
(authenticate_as). Expected failures run in a savepoint so that a check can go on after them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.conftest import acting_as, authenticate_as

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    owner: uuid.UUID
    admin: uuid.UUID
    rep: uuid.UUID
    other_rep: uuid.UUID
    analyst: uuid.UUID


def make_org(conn: psycopg.Connection, name: str = "Acme") -> Org:
    """An organisation with one member of each role (and two reps), created by its owner."""
    owner, admin, rep, other_rep, analyst = (uuid.uuid4() for _ in range(5))
    with acting_as(conn, owner):
        org_id = one(conn, "select * from api.create_organization(%s)", (name,))["id"]
        for user_id, role in ((admin, "admin"), (rep, "rep"), (other_rep, "rep"), (analyst, "analyst")):
            conn.execute("select * from api.add_org_member(%s, %s, %s)", (org_id, user_id, role))
    return Org(org_id, owner, admin, rep, other_rep, analyst)


def one(conn: psycopg.Connection, query: str, params: Any = ()) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute(query, params).fetchone()
    assert row is not None
    return row


def rows(conn: psycopg.Connection, query: str, params: Any = ()) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()


def sqlstate(conn: psycopg.Connection, query: str, params: Any = ()) -> str | None:
    """The SQLSTATE `query` fails with, or None; run in a savepoint that is rolled back either way."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(query, params)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


def error(conn: psycopg.Connection, query: str, params: Any = ()) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info, conn.transaction(force_rollback=True):
        conn.execute(query, params)
    return info.value


def pages(conn: psycopg.Connection, query: str, params: dict[str, Any], sort_key: str) -> Iterator[list[uuid.UUID]]:
    """Ids of each page `query` returns, following the keyset cursor until a page comes back empty."""
    cursor = {"before": None, "before_id": None}
    for _ in range(10):  # a cursor that does not advance would page forever
        page = rows(conn, query, {**params, **cursor})
        if not page:
            return
        yield [r["id"] for r in page]
        cursor = {"before": page[-1][sort_key], "before_id": page[-1]["id"]}
    pytest.fail(f"still paging after 10 pages: {query}")


def newest_first(found: list[dict[str, Any]], sort_key: str) -> list[uuid.UUID]:
    return [r["id"] for r in sorted(found, key=lambda r: (r[sort_key], r["id"]), reverse=True)]


def make_lead(conn: psycopg.Connection, org: Org, user: uuid.UUID, email: str) -> uuid.UUID:
    with acting_as(conn, user):
        return one(conn, "select * from api.create_lead(org_id => %s, email => %s)", (org.id, email))["id"]


# -- companies ----------------------------------------------------------------------------------
def test_company_create_normalises_and_lists_with_search_and_keyset_pages(db):
    org = make_org(db)
    with acting_as(db, org.rep) as conn:
        # one transaction: all three share created_at, so the pages are told apart by id alone
        acme = one(conn, "select * from api.create_company(%s, ' Acme GmbH ', domain => ' Acme.COM ', country => 'de')",
                   (org.id,))
        for name in ("Globex", "Initech"):
            conn.execute("select * from api.create_company(%s, %s)", (org.id, name))
    assert (acme["name"], acme["domain"], acme["country"]) == ("Acme GmbH", "acme.com", "DE")

    with authenticate_as(db, org.analyst) as conn:
        assert one(conn, "select * from api.get_company(%s, %s)", (org.id, acme["id"])) == acme
        by_name = rows(conn, "select id from api.list_companies(%s, search => 'acme g')", (org.id,))
        by_domain = rows(conn, "select id from api.list_companies(%s, search => 'ACME.C')", (org.id,))
        assert by_name == by_domain == [{"id": acme["id"]}]

        everything = rows(conn, "select * from api.list_companies(%s)", (org.id,))
        query = ("select * from api.list_companies(%(org)s, page_size => 2, before => %(before)s, "
                 "before_id => %(before_id)s)")
        paged = list(pages(conn, query, {"org": org.id}, "created_at"))
        assert [len(p) for p in paged] == [2, 1]
        assert sum(paged, []) == newest_first(everything, "created_at")
        assert sqlstate(conn, "select * from api.list_companies(%s, page_size => 0)", (org.id,)) == "22023"
        assert sqlstate(conn, "select * from api.list_companies(%s, page_size => 501)", (org.id,)) == "22023"


def test_company_update_and_delete_follow_roles(db):
    org = make_org(db)
    with acting_as(db, org.rep) as conn:
        company_id = one(conn, "select * from api.create_company(%s, 'Acme', domain => 'acme.com')", (org.id,))["id"]
    update = "select * from api.update_company(%s, %s, %s)"
    delete = "select * from api.delete_company(%s, %s)"

    with authenticate_as(db, org.rep) as conn:
        changed = one(conn, update, (org.id, company_id, Jsonb({"domain": " NEW.io", "employee_count": 12})))
        assert (changed["name"], changed["domain"], changed["employee_count"]) == ("Acme", "new.io", 12)
        unknown = error(conn, update, (org.id, company_id, Jsonb({"id": str(uuid.uuid4())})))
        assert (unknown.sqlstate, unknown.diag.message_primary) == ("22023", "cannot change id")
        assert sqlstate(conn, update, (org.id, company_id, Jsonb({"employee_count": "many"}))) == "22P02"
        refused = error(conn, delete, (org.id, company_id))
        assert refused.sqlstate == "42501" and "Only owners and admins" in (refused.diag.message_hint or "")

    with authenticate_as(db, org.analyst) as conn:
        assert sqlstate(conn, update, (org.id, company_id, Jsonb({"industry": "x"}))) == "42501"

    with authenticate_as(db, org.admin) as conn:
        assert one(conn, delete, (org.id, company_id))["id"] == company_id
        assert sqlstate(conn, "select * from api.get_company(%s, %s)", (org.id, company_id)) == "PT404"


# -- deals --------------------------------------------------------------------------------------
def test_deal_closed_at_follows_the_stage(db):
    org = make_org(db)
    lead_id = make_lead(db, org, org.rep, "jo@example.com")
    update = "select * from api.update_deal(%s, %s, %s)"
    with authenticate_as(db, org.rep) as conn:
        now = conn.execute("select now()").fetchone()[0]
        deal = one(conn, "select * from api.create_deal(%s, 'Big one', lead_id => %s, amount => 1200, "
                         "currency => 'usd')", (org.id, lead_id))
        assert (deal["owner_id"], deal["stage"], deal["currency"], deal["closed_at"]) == (
            org.rep, "prospecting", "USD", None)

        won = one(conn, update, (org.id, deal["id"], Jsonb({"stage": "closed_won"})))
        assert (won["stage"], won["closed_at"], won["amount"]) == ("closed_won", now, 1200)
        reopened = one(conn, update, (org.id, deal["id"], Jsonb({"stage": "negotiation"})))
        assert reopened["closed_at"] is None

        lost = one(conn, update, (org.id, deal["id"], Jsonb({"stage": "closed_lost", "lost_reason": "price"})))
        assert (lost["closed_at"], lost["lost_reason"]) == (now, "price")
        backdated = one(conn, update, (org.id, deal["id"], Jsonb({"closed_at": T0.isoformat()})))
        assert backdated["closed_at"] == T0
        reopened = one(conn, update, (org.id, deal["id"], Jsonb({"stage": "proposal"})))
        assert (reopened["closed_at"], reopened["lost_reason"]) == (None, None)

        born_closed = one(conn, "select * from api.create_deal(%s, 'Done', stage => 'closed_won')", (org.id,))
        assert born_closed["closed_at"] == now
        # won, backdated, then lost after all: closed_at is when it was lost, not when it was won
        one(conn, update, (org.id, born_closed["id"], Jsonb({"closed_at": T0.isoformat()})))
        relost = one(conn, update, (org.id, born_closed["id"], Jsonb({"stage": "closed_lost"})))
        assert relost["closed_at"] == now
        # a lost reason on a deal that is not lost is refused, not silently dropped
        assert sqlstate(conn, update, (org.id, deal["id"], Jsonb({"lost_reason": "price"}))) == "23514"

        assert sqlstate(conn, update, (org.id, deal["id"], Jsonb({"stage": "won"}))) == "22P02"
        assert sqlstate(conn, update, (org.id, deal["id"], Jsonb({"created_at": T0.isoformat()}))) == "22023"
        assert sqlstate(conn, update, (org.id, deal["id"], Jsonb(["stage"]))) == "22023"


def test_list_deals_filters_and_pages(db):
    org = make_org(db)
    lead_id = make_lead(db, org, org.rep, "jo@example.com")
    with acting_as(db, org.rep) as conn:
        company_id = one(conn, "select * from api.create_company(%s, 'Acme')", (org.id,))["id"]
        for i in range(3):
            conn.execute("select * from api.create_deal(%s, %s, lead_id => %s)", (org.id, f"d{i}", lead_id))
        conn.execute("select * from api.create_deal(%s, 'with company', company_id => %s, stage => 'proposal')",
                     (org.id, company_id))
    with acting_as(db, org.other_rep) as conn:
        conn.execute("select * from api.create_deal(%s, 'theirs')", (org.id,))

    def names(**filters: Any) -> set[str]:
        args = "".join(f", {k} => %({k})s" for k in filters)
        return {r["name"] for r in rows(conn, f"select name from api.list_deals(%(org)s{args})",
                                        {"org": org.id, **filters})}

    with authenticate_as(db, org.analyst) as conn:
        assert names(stage="proposal") == {"with company"}
        assert names(owner_id=org.other_rep) == {"theirs"}
        assert names(lead_id=lead_id) == {"d0", "d1", "d2"}
        assert names(company_id=company_id) == {"with company"}
        assert names(owner_id=org.rep, stage="prospecting") == {"d0", "d1", "d2"}

        everything = rows(conn, "select * from api.list_deals(%s, owner_id => %s)", (org.id, org.rep))
        query = ("select * from api.list_deals(%(org)s, owner_id => %(owner)s, page_size => 3, "
                 "before => %(before)s, before_id => %(before_id)s)")
        paged = list(pages(conn, query, {"org": org.id, "owner": org.rep}, "created_at"))
        # the company deal committed with the others: created_at ties, ids break them
        assert [len(p) for p in paged] == [3, 1]
        assert sum(paged, []) == newest_first(everything, "created_at")


def test_deal_writes_follow_roles(db):
    org = make_org(db)
    with acting_as(db, org.rep) as conn:
        deal_id = one(conn, "select * from api.create_deal(%s, 'Mine')", (org.id,))["id"]
    update = "select * from api.update_deal(%s, %s, %s)"
    delete = "select * from api.delete_deal(%s, %s)"
    with authenticate_as(db, org.other_rep) as conn:
        refused = error(conn, update, (org.id, deal_id, Jsonb({"amount": 5})))
        assert (refused.sqlstate, refused.diag.message_primary) == ("42501", f"you may not change deal {deal_id}")
        # a rep may not create a deal for someone else
        assert sqlstate(conn, "select * from api.create_deal(%s, 'x', owner_id => %s)", (org.id, org.rep)) == "42501"
    with authenticate_as(db, org.rep) as conn:
        assert one(conn, update, (org.id, deal_id, Jsonb({"amount": 5})))["amount"] == 5
        assert sqlstate(conn, delete, (org.id, deal_id)) == "42501"
    with authenticate_as(db, org.admin) as conn:
        assert one(conn, delete, (org.id, deal_id))["id"] == deal_id
        assert rows(conn, "select * from api.list_deals(%s)", (org.id,)) == []


def test_delete_deal_takes_its_deal_only_activities_and_keeps_lead_ones(db):
    org = make_org(db)
    lead_id = make_lead(db, org, org.rep, "jo@example.com")
    with acting_as(db, org.rep) as conn:
        deal_id = one(conn, "select * from api.create_deal(%s, 'Deal', lead_id => %s)", (org.id, lead_id))["id"]
        deal_only = one(conn, "select * from api.create_activity(%s, 'note', deal_id => %s)", (org.id, deal_id))
        both = one(conn, "select * from api.create_activity(%s, 'note', lead_id => %s, deal_id => %s)",
                   (org.id, lead_id, deal_id))
    with authenticate_as(db, org.admin) as conn:
        conn.execute("select * from api.delete_deal(%s, %s)", (org.id, deal_id))
        assert sqlstate(conn, "select * from api.get_activity(%s, %s)", (org.id, deal_only["id"])) == "PT404"
        kept = one(conn, "select * from api.get_activity(%s, %s)", (org.id, both["id"]))
        assert (kept["lead_id"], kept["deal_id"]) == (lead_id, None)


# -- activities ---------------------------------------------------------------------------------
def test_activity_crud_filters_and_pages_by_occurred_at(db):
    org = make_org(db)
    lead_id = make_lead(db, org, org.rep, "jo@example.com")
    with acting_as(db, org.rep) as conn:
        deal_id = one(conn, "select * from api.create_deal(%s, 'Deal', lead_id => %s)", (org.id, lead_id))["id"]
        call = one(conn, "select * from api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound', "
                         "outcome => 'no_answer', occurred_at => %s)", (org.id, lead_id, T0))
        for hours in (1, 1, 2):  # two at the same instant: the cursor must break the tie by id
            conn.execute("select * from api.create_activity(%s, 'note', lead_id => %s, deal_id => %s, "
                         "occurred_at => %s)", (org.id, lead_id, deal_id, T0 + timedelta(hours=hours)))
        task = one(conn, "select * from api.create_activity(%s, 'task', deal_id => %s, subject => 'send offer', "
                         "occurred_at => %s, due_at => %s)", (org.id, deal_id, T0, T0 + timedelta(days=2)))
    assert (call["owner_id"], call["direction"], call["outcome"]) == (org.rep, "outbound", "no_answer")

    with authenticate_as(db, org.analyst) as conn:
        lead = one(conn, "select * from api.get_lead(%s, %s)", (org.id, lead_id))
        assert lead["last_activity_at"] == T0 + timedelta(hours=2)
        assert one(conn, "select * from api.get_activity(%s, %s)", (org.id, call["id"])) == call
        by_kind = rows(conn, "select id from api.list_activities(%s, kind => 'task')", (org.id,))
        assert by_kind == [{"id": task["id"]}]
        assert len(rows(conn, "select * from api.list_activities(%s, lead_id => %s)", (org.id, lead_id))) == 4
        assert len(rows(conn, "select * from api.list_activities(%s, deal_id => %s)", (org.id, deal_id))) == 4

        everything = rows(conn, "select * from api.list_activities(%s)", (org.id,))
        query = ("select * from api.list_activities(%(org)s, page_size => 3, before => %(before)s, "
                 "before_id => %(before_id)s)")
        paged = list(pages(conn, query, {"org": org.id}, "occurred_at"))
        assert [len(p) for p in paged] == [3, 2]
        assert sum(paged, []) == newest_first(everything, "occurred_at")

    with authenticate_as(db, org.rep) as conn:
        done = one(conn, "select * from api.update_activity(%s, %s, %s)",
                   (org.id, task["id"], Jsonb({"completed_at": T0.isoformat(), "subject": "offer sent"})))
        assert (done["completed_at"], done["subject"], done["due_at"]) == (T0, "offer sent", task["due_at"])
        update = "select * from api.update_activity(%s, %s, %s)"
        assert sqlstate(conn, update, (org.id, task["id"], Jsonb({"kind": "fax"}))) == "22P02"
        assert sqlstate(conn, update, (org.id, task["id"], Jsonb({"org_id": str(org.id)}))) == "22023"
        # the table's own rules still hold: a call needs a direction
        assert sqlstate(conn, update, (org.id, task["id"], Jsonb({"kind": "call", "due_at": None}))) == "23514"
        assert one(conn, "select * from api.delete_activity(%s, %s)", (org.id, call["id"]))["id"] == call["id"]
        assert sqlstate(conn, "select * from api.get_activity(%s, %s)", (org.id, call["id"])) == "PT404"


def test_rep_changes_own_activities_on_their_lead_but_not_another_reps(db):
    org = make_org(db)
    lead_id = make_lead(db, org, org.rep, "jo@example.com")
    create = "select * from api.create_activity(%s, 'note', lead_id => %s, body => 'hi')"
    with acting_as(db, org.rep) as conn:
        mine = one(conn, create, (org.id, lead_id))["id"]
    with acting_as(db, org.other_rep) as conn:
        theirs = one(conn, create, (org.id, lead_id))["id"]
    update = "select * from api.update_activity(%s, %s, %s)"
    with authenticate_as(db, org.rep) as conn:
        assert one(conn, update, (org.id, mine, Jsonb({"body": "edited"})))["body"] == "edited"
        refused = error(conn, update, (org.id, theirs, Jsonb({"body": "edited"})))
        assert (refused.sqlstate, refused.diag.message_primary) == ("42501", f"you may not change activity {theirs}")
        assert sqlstate(conn, "select * from api.delete_activity(%s, %s)", (org.id, theirs)) == "42501"
        # nor hand their own activity to someone else
        assert sqlstate(conn, update, (org.id, mine, Jsonb({"owner_id": str(org.other_rep)}))) == "42501"
    with authenticate_as(db, org.admin) as conn:
        assert one(conn, update, (org.id, theirs, Jsonb({"body": "by admin"})))["body"] == "by admin"


# -- messages -----------------------------------------------------------------------------------
def test_create_message_is_idempotent_on_external_id(db):
    org = make_org(db)
    lead_id = make_lead(db, org, org.rep, "jo@example.com")
    create = ("select * from api.create_message(%s, %s, %s, 'inbound', %s, external_id => %s, "
              "sent_at => %s, language => 'DE')")
    with acting_as(db, org.rep) as conn:
        first = one(conn, create, (org.id, lead_id, "whatsapp", "Hallo", "wamid.1", T0))
    assert first["language"] == "de"
    with authenticate_as(db, org.rep) as conn:
        again = one(conn, create, (org.id, lead_id, "whatsapp", "Hallo (redelivered)", "wamid.1", T0))
        assert again == first
        # the key is (channel, external_id): the same id on another channel is another message
        other_channel = one(conn, create, (org.id, lead_id, "sms", "Hallo", "wamid.1", T0))
        assert other_channel["id"] != first["id"]
        # without an external_id nothing is deduplicated
        for _ in range(2):
            conn.execute(create, (org.id, lead_id, "chat", "hey", None, T0))
        counts = rows(conn, "select channel, count(*) as n from api.list_messages(%s) group by channel order by 1",
                      (org.id,))
        assert counts == [{"channel": "whatsapp", "n": 1}, {"channel": "sms", "n": 1}, {"channel": "chat", "n": 2}]
    with authenticate_as(db, org.analyst) as conn:
        assert sqlstate(conn, create, (org.id, lead_id, "whatsapp", "Hallo", "wamid.1", T0)) == "42501"


def test_messages_list_update_and_delete(db):
    org = make_org(db)
    jo = make_lead(db, org, org.rep, "jo@example.com")
    ann = make_lead(db, org, org.rep, "ann@example.com")
    create = "select * from api.create_message(%s, %s, %s, 'outbound', 'hello', sent_at => %s)"
    with acting_as(db, org.rep) as conn:
        for minutes in (0, 5, 5, 10):
            conn.execute(create, (org.id, jo, "email", T0 + timedelta(minutes=minutes)))
        message_id = one(conn, create, (org.id, ann, "sms", T0))["id"]

    with authenticate_as(db, org.analyst) as conn:
        assert {r["lead_id"] for r in rows(conn, "select * from api.list_messages(%s, lead_id => %s)",
                                           (org.id, jo))} == {jo}
        assert [r["id"] for r in rows(conn, "select * from api.list_messages(%s, channel => 'sms')",
                                      (org.id,))] == [message_id]
        everything = rows(conn, "select * from api.list_messages(%s)", (org.id,))
        query = ("select * from api.list_messages(%(org)s, page_size => 3, before => %(before)s, "
                 "before_id => %(before_id)s)")
        paged = list(pages(conn, query, {"org": org.id}, "sent_at"))
        assert [len(p) for p in paged] == [3, 2]
        assert sum(paged, []) == newest_first(everything, "sent_at")

    update = "select * from api.update_message(%s, %s, %s)"
    delete = "select * from api.delete_message(%s, %s)"
    with authenticate_as(db, org.rep) as conn:
        refused = error(conn, update, (org.id, message_id, Jsonb({"body": "x"})))
        assert (refused.sqlstate, refused.diag.message_hint) == ("42501", "Only owners and admins change messages.")
        assert sqlstate(conn, delete, (org.id, message_id)) == "42501"
    with authenticate_as(db, org.admin) as conn:
        moved = one(conn, update, (org.id, message_id, Jsonb({"lead_id": str(jo), "body": "[redacted]"})))
        assert (moved["lead_id"], moved["body"], moved["channel"]) == (jo, "[redacted]", "sms")
        assert sqlstate(conn, update, (org.id, message_id, Jsonb({"external_id": "x"}))) == "22023"
        assert one(conn, delete, (org.id, message_id))["id"] == message_id
        assert sqlstate(conn, "select * from api.get_message(%s, %s)", (org.id, message_id)) == "PT404"


# -- channel identities -------------------------------------------------------------------------
def test_channel_identities_link_find_relink_and_unlink(db):
    org = make_org(db)
    jo = make_lead(db, org, org.rep, "jo@example.com")
    ann = make_lead(db, org, org.rep, "ann@example.com")
    link = "select * from api.link_channel_identity(%s, %s, %s, %s, verified => %s)"
    find = "select * from api.find_lead_by_address(%s, %s, %s)"
    with acting_as(db, org.rep) as conn:
        phone = one(conn, link, (org.id, "whatsapp", " +49 (170) 123-4567 ", jo, True))
        conn.execute(link, (org.id, "email", "Jo@Example.COM ", jo, False))
    assert (phone["address"], phone["verified"]) == ("+491701234567", True)

    with authenticate_as(db, org.rep) as conn:
        assert one(conn, find, (org.id, "whatsapp", "0049 170 1234567"))["id"] == jo
        assert one(conn, find, (org.id, "email", "JO@example.com"))["id"] == jo
        assert [(r["channel"], r["address"]) for r in rows(
            conn, "select * from api.list_channel_identities(%s, %s)", (org.id, jo))
        ] == [("email", "jo@example.com"), ("whatsapp", "+491701234567")]
        # not linked on that channel
        assert sqlstate(conn, find, (org.id, "sms", "+491701234567")) == "PT404"

        # re-linking to the same lead keeps the verification; moving the address starts over
        assert one(conn, link, (org.id, "whatsapp", "+491701234567", jo, False))["verified"] is True
        moved = one(conn, link, (org.id, "whatsapp", "+49 170 1234567", ann, False))
        assert (moved["lead_id"], moved["verified"]) == (ann, False)
        assert one(conn, find, (org.id, "whatsapp", "+491701234567"))["id"] == ann
        assert len(rows(conn, "select * from api.list_channel_identities(%s, %s)", (org.id, jo))) == 1

        unlink = "select * from api.unlink_channel_identity(%s, %s, %s)"
        refused = error(conn, unlink, (org.id, "email", "jo@example.com"))
        assert refused.sqlstate == "42501" and refused.diag.message_hint == "Only owners and admins unlink addresses."

    with authenticate_as(db, org.admin) as conn:
        assert one(conn, unlink, (org.id, "email", " JO@example.com"))["lead_id"] == jo
        assert sqlstate(conn, find, (org.id, "email", "jo@example.com")) == "PT404"
        assert sqlstate(conn, unlink, (org.id, "email", "jo@example.com")) == "PT404"


# -- across roles and organisations -------------------------------------------------------------
def seed_one_of_each(conn: psycopg.Connection, org: Org) -> dict[str, uuid.UUID]:
    """A company, lead, deal, activity, message and phone identity in `org`, created by its owner."""
    with acting_as(conn, org.owner):
        ids = {"company": one(conn, "select * from api.create_company(%s, 'Acme')", (org.id,))["id"]}
        ids["lead"] = one(conn, "select * from api.create_lead(%s, email => 'jo@example.com')", (org.id,))["id"]
        ids["deal"] = one(conn, "select * from api.create_deal(%s, 'Deal', lead_id => %s)", (org.id, ids["lead"]))["id"]
        ids["activity"] = one(conn, "select * from api.create_activity(%s, 'note', lead_id => %s)",
                              (org.id, ids["lead"]))["id"]
        ids["message"] = one(conn, "select * from api.create_message(%s, %s, 'sms', 'inbound', 'hi')",
                             (org.id, ids["lead"]))["id"]
        conn.execute("select * from api.link_channel_identity(%s, 'sms', '+4917012345', %s)", (org.id, ids["lead"]))
    return ids


ENTITIES = ("company", "deal", "activity", "message")


def test_another_organisations_rows_are_not_found(db):
    mine, theirs = make_org(db, "Mine"), make_org(db, "Theirs")
    seed_one_of_each(db, mine)
    ids = seed_one_of_each(db, theirs)
    with authenticate_as(db, mine.owner) as conn:
        for entity in ENTITIES:
            # whether the caller names the other organisation or their own, the row is not there
            for org_id in (theirs.id, mine.id):
                args = (org_id, ids[entity])
                assert sqlstate(conn, f"select * from api.get_{entity}(%s, %s)", args) == "PT404", entity
                assert sqlstate(conn, f"select * from api.update_{entity}(%s, %s, '{{}}')", args) == "PT404", entity
                assert sqlstate(conn, f"select * from api.delete_{entity}(%s, %s)", args) == "PT404", entity
        assert rows(conn, "select * from api.list_companies(%s)", (theirs.id,)) == []
        assert rows(conn, "select * from api.list_deals(%s)", (theirs.id,)) == []
        assert rows(conn, "select * from api.list_activities(%s)", (theirs.id,)) == []
        assert rows(conn, "select * from api.list_messages(%s)", (theirs.id,)) == []
        assert rows(conn, "select * from api.list_channel_identities(%s, %s)", (theirs.id, ids["lead"])) == []
        assert sqlstate(conn, "select * from api.find_lead_by_address(%s, 'sms', '+4917012345')",
                        (theirs.id,)) == "PT404"
        assert sqlstate(conn, "select * from api.unlink_channel_identity(%s, 'sms', '+4917012345')",
                        (theirs.id,)) == "PT404"
        # writing into another organisation is refused by its policies
        assert sqlstate(conn, "select * from api.create_company(%s, 'x')", (theirs.id,)) == "42501"


def test_analyst_may_write_nothing(db):
    org = make_org(db)
    ids = seed_one_of_each(db, org)
    lead = ids["lead"]
    writes = [
        ("select * from api.create_company(%s, 'x')", (org.id,)),
        ("select * from api.create_deal(%s, 'x')", (org.id,)),
        ("select * from api.create_activity(%s, 'note', lead_id => %s)", (org.id, lead)),
        ("select * from api.create_message(%s, %s, 'sms', 'inbound', 'hi')", (org.id, lead)),
        ("select * from api.link_channel_identity(%s, 'email', 'a@b.de', %s)", (org.id, lead)),
        ("select * from api.link_channel_identity(%s, 'sms', '+4917012345', %s)", (org.id, lead)),
        ("select * from api.unlink_channel_identity(%s, 'sms', '+4917012345')", (org.id,)),
    ]
    for entity in ENTITIES:
        writes.append((f"select * from api.update_{entity}(%s, %s, '{{}}')", (org.id, ids[entity])))
        writes.append((f"select * from api.delete_{entity}(%s, %s)", (org.id, ids[entity])))
    with authenticate_as(db, org.analyst) as conn:
        for query, params in writes:
            assert sqlstate(conn, query, params) == "42501", query
    # the same calls succeed for an admin, so the refusals above are the analyst's role, not the calls
    with authenticate_as(db, org.admin) as conn:
        for query, params in writes:
            assert sqlstate(conn, query, params) is None, query

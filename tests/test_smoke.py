from __future__ import annotations

import uuid

from tests.conftest import acting_as, authenticate_as


def test_lead_round_trip_under_rls(db):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with acting_as(db, alice) as conn:
        org_id = conn.execute("select id from api.create_organization('Acme')").fetchone()[0]
        conn.execute("select * from api.create_lead(org_id => %s, first_name => 'Jo', email => 'JO@x.de')", (org_id,))
    with authenticate_as(db, alice) as conn:
        assert conn.execute("select email from api.list_leads(%s)", (org_id,)).fetchall() == [("jo@x.de",)]
    with authenticate_as(db, bob) as conn:
        assert conn.execute("select count(*) from salesflow.leads").fetchone() == (0,)

"""POST /api/engagement/events over real HTTP: idempotent per event, 4xx with reasons, tenant-checked."""

from __future__ import annotations

import uuid

import httpx
import psycopg

from tests.conftest import ApiProcess, make_token


def rpc(api: ApiProcess, fn: str, body: dict, headers: dict) -> httpx.Response:
    return httpx.post(f"{api.url}/rest/v1/rpc/{fn}", json=body, headers=headers, timeout=30)


def events_url(api: ApiProcess) -> str:
    return f"{api.url}/api/engagement/events"


def test_events_over_http(api: ApiProcess) -> None:
    me = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
    stranger = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
    org = rpc(api, "create_organization", {"name": "Events GmbH"}, me).json()["id"]
    lead = rpc(api, "create_lead", {"org_id": org, "first_name": "Ada"}, me).json()["id"]
    other_org = rpc(api, "create_organization", {"name": "Other AG"}, stranger).json()["id"]
    other_lead = rpc(api, "create_lead", {"org_id": other_org, "first_name": "Eve"}, stranger).json()["id"]
    batch = [{"lead_id": lead, "event_type": kind, "occurred_at": f"2026-11-0{i + 1}T10:00:00Z",
              "idempotency_key": f"evt-{i}", "properties": {"url": "/pricing"}}
             for i, kind in enumerate(["page_view", "email_open", "form_submission"])]

    first = httpx.post(events_url(api), params={"org_id": org}, json={"events": batch}, headers=me, timeout=30)
    assert first.status_code == 201 and first.json() == {"stored": 3, "duplicates": 0}
    # re-sent after a timeout, with one new event: only the new one is stored
    extra = {**batch[0], "idempotency_key": "evt-9", "event_type": "email_click"}
    again = httpx.post(events_url(api), json={"org_id": org, "events": [*batch, extra]}, headers=me, timeout=30)
    assert again.status_code == 201 and again.json() == {"stored": 1, "duplicates": 3}
    same = httpx.post(events_url(api), json={"org_id": org, "events": batch}, headers=me, timeout=30)
    assert same.status_code == 200 and same.json() == {"stored": 0, "duplicates": 3}

    bad_cases = [
        ({"events": [{**batch[0], "idempotency_key": "evt-x", "event_type": "tweet"}]}, 400, "event 1: event_type"),
        ({"events": [batch[0], {**batch[1], "idempotency_key": ""}]}, 400, "event 2: idempotency_key"),
        ({"events": [{**batch[0], "idempotency_key": "nul\u0000key"}]}, 400, None),
        ({"events": []}, 400, "non-empty"),
        ({"events": "page_view"}, 400, "non-empty"),
        ({"events": batch, "extra": 1}, 400, "unknown body keys"),
        ({"events": [{**batch[0], "lead_id": other_lead, "idempotency_key": "evt-y"}]}, 404, "not found"),
    ]
    for body, status, words in bad_cases:
        r = httpx.post(events_url(api), params={"org_id": org}, json=body, headers=me, timeout=30)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()) == {"code", "message", "details", "hint"}
        if words:
            assert words in r.json()["message"], r.text
    raw = httpx.post(events_url(api), params={"org_id": org}, content=b"[1, 2", headers=me, timeout=30)
    assert raw.status_code == 400 and raw.json()["code"] == "PGRST102"
    assert httpx.post(events_url(api), json={"events": batch}, headers=me, timeout=30).status_code == 400  # no org
    bad_org = httpx.post(events_url(api), params={"org_id": "x"}, json={"events": batch}, headers=me, timeout=30)
    assert bad_org.status_code == 400 and bad_org.json()["code"] == "22P02"
    # another tenant writing into this org, or nobody signed in: refused, nothing stored
    foreign = httpx.post(events_url(api), params={"org_id": org}, json={"events": [
        {**batch[0], "idempotency_key": "evt-z"}]}, headers=stranger, timeout=30)
    assert foreign.status_code in (403, 404), foreign.text
    anonymous = httpx.post(events_url(api), params={"org_id": org}, json={"events": batch}, timeout=30)
    assert anonymous.status_code == 401
    with psycopg.connect(api.database_url) as conn:
        keys = conn.execute("select idempotency_key, event_type::text from salesflow.engagement_events "
                            "where org_id = %s order by idempotency_key", (org,)).fetchall()
    assert keys == [("evt-0", "page_view"), ("evt-1", "email_open"), ("evt-2", "form_submission"),
                    ("evt-9", "email_click")]

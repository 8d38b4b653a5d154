"""Per-caller and per-organisation rate limits (issue 9, section 1c), over a hand-moved clock and real HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from salesflow.api.limits import Limiter
from tests.conftest import ApiProcess, make_token, run_api


class ManualClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def test_an_organisation_bucket_counts_tokens_not_requests_in_flight() -> None:
    clock = ManualClock()
    org = Limiter(rate=1.0, burst=2.0, concurrency=0, clock=clock)
    assert org.take("o") is None and org.take("o") is None  # nothing to release: rate only
    assert org.take("o") == pytest.approx(1.0)
    assert org.take("p") is None  # another organisation has its own bucket
    clock.now += 0.5
    assert org.take("o") == pytest.approx(0.5)
    clock.now += 0.5
    assert org.take("o") is None
    clock.now -= 100  # a clock that goes back refills nothing and takes nothing away
    assert org.take("o") == pytest.approx(1.0)


def test_the_organisation_limit_comes_from_the_environment() -> None:
    assert Limiter.org_from_env({"SALESFLOW_RATE_LIMIT": "0"}) is None  # 0 turns every limit off
    assert Limiter.org_from_env({"SALESFLOW_ORG_RATE_LIMIT": "0"}) is None
    assert Limiter.org_from_env({"SALESFLOW_RATE_LIMIT": "nan"}) is None
    default = Limiter.org_from_env({})
    assert default is not None and (default.rate, default.burst, default.concurrency) == (500.0, 1000.0, 0)
    own = Limiter.org_from_env({"SALESFLOW_ORG_RATE_LIMIT": "3", "SALESFLOW_ORG_RATE_BURST": "4"})
    assert own is not None and (own.rate, own.burst) == (3.0, 4.0)
    with pytest.raises(ValueError, match="must be numbers"):
        Limiter.org_from_env({"SALESFLOW_ORG_RATE_LIMIT": "lots"})


def rpc(api: ApiProcess, fn: str, body: object, token: str) -> httpx.Response:
    return httpx.post(f"{api.url}/rest/v1/rpc/{fn}", content=json.dumps(body),
                      headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def org_limited_api(module_db_url: str) -> Iterator[ApiProcess]:
    # each caller may do plenty; an organisation gets a burst of 3, then one call per 1,000 s
    env = {"SALESFLOW_RATE_LIMIT": "1000", "SALESFLOW_ORG_RATE_LIMIT": "0.001", "SALESFLOW_ORG_RATE_BURST": "3"}
    with run_api(module_db_url, env) as process:
        yield process


def test_members_of_one_organisation_share_its_bucket(org_limited_api: ApiProcess) -> None:
    api = org_limited_api
    owner, rep, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    owner_token, rep_token, stranger_token = make_token(owner), make_token(rep), make_token(stranger)
    org = rpc(api, "create_organization", {"name": "Busy AG"}, owner_token).json()["id"]
    # a stranger naming the organisation is not counted against it (and sees nothing of it)
    for _ in range(5):
        assert rpc(api, "list_leads", {"org_id": org}, stranger_token).json() == []
    assert rpc(api, "add_org_member", {"org_id": org, "user_id": str(rep), "role": "rep"},
               owner_token).status_code == 200  # 1st of the organisation's 3
    assert rpc(api, "list_leads", {"org_id": org}, owner_token).status_code == 200  # 2nd
    assert rpc(api, "list_leads", {"org_id": org}, rep_token).status_code == 200  # 3rd, another member
    refused = rpc(api, "create_lead", {"org_id": org, "first_name": "Lost"}, rep_token)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert set(body) == {"code", "message", "details", "hint"} and body["code"] == "SF429"
    assert "organisation" in body["message"]
    assert rpc(api, "list_leads", {"org_id": org}, owner_token).status_code == 429
    with psycopg.connect(api.database_url) as conn:  # the refused call ran nothing
        assert conn.execute("select count(*) from salesflow.leads where first_name = 'Lost'").fetchone() == (0,)
    # another organisation, and calls naming no organisation, are not held back
    other = rpc(api, "create_organization", {"name": "Quiet SARL"}, stranger_token).json()["id"]
    assert rpc(api, "list_leads", {"org_id": other}, stranger_token).status_code == 200
    assert rpc(api, "my_organizations", {}, owner_token).status_code == 200


def test_zero_turns_the_limits_off(module_db_url: str) -> None:
    env = {"SALESFLOW_RATE_LIMIT": "0", "SALESFLOW_ORG_RATE_LIMIT": "0.001", "SALESFLOW_ORG_RATE_BURST": "1"}
    with run_api(module_db_url, env) as api:
        token = make_token(uuid.uuid4())
        org = rpc(api, "create_organization", {"name": "Unlimited"}, token).json()["id"]
        assert [rpc(api, "list_leads", {"org_id": org}, token).status_code for _ in range(4)] == [200] * 4

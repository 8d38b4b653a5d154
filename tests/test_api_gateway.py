"""The RPC gateway as a real uvicorn process, called over HTTP by httpx and the supabase client."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import psycopg
import pytest

from supabase import ClientOptions, create_client
from tests.conftest import ApiProcess, make_token


def rpc(api: ApiProcess, fn: str, body: object = None, token: str | None = None, *, raw: bytes | None = None,
        headers: dict[str, str] | None = None) -> httpx.Response:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    return httpx.post(f"{api.url}/rest/v1/rpc/{fn}", content=content, headers=all_headers, timeout=30)


def lead_count(api: ApiProcess) -> int:
    with psycopg.connect(api.database_url) as conn:
        return conn.execute("select count(*) from salesflow.leads").fetchone()[0]


@pytest.fixture(scope="module")
def team(api: ApiProcess) -> dict:
    """An organisation with an owner, a rep and an analyst, set up through the API itself."""
    owner, rep, analyst = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    owner_token = make_token(owner)
    org = rpc(api, "create_organization", {"name": "Gateway Test GmbH"}, owner_token).json()
    for user, role in ((rep, "rep"), (analyst, "analyst")):
        r = rpc(api, "add_org_member", {"org_id": org["id"], "user_id": str(user), "role": role}, owner_token)
        assert r.status_code == 200, r.text
    lead = rpc(api, "create_lead", {"org_id": org["id"], "first_name": "Erika", "email": "erika@example.de"},
               owner_token).json()
    return {"org": org["id"], "owner": owner, "rep": rep, "analyst": analyst, "owner_token": owner_token,
            "rep_token": make_token(rep), "analyst_token": make_token(analyst), "lead": lead["id"]}


def test_health_reports_database_and_migrations(api: ApiProcess) -> None:
    r = httpx.get(f"{api.url}/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "migrations": "current"}


def test_supabase_client_creates_and_reads_a_lead(api: ApiProcess, team: dict) -> None:
    anon_key = make_token(None, "anon")
    client = create_client(api.url, anon_key, options=ClientOptions(schema="api"))
    client.postgrest.auth(team["owner_token"])
    created = client.rpc("create_lead", {
        "org_id": team["org"], "first_name": "Max", "last_name": "Mustermann", "email": " Max@Beispiel.DE ",
        "lifecycle_stage": "mql", "attributes": {"segment": "mid-market"},
    }).execute().data
    assert created["email"] == "max@beispiel.de"
    assert created["owner_id"] == str(team["owner"])
    fetched = client.rpc("get_lead", {"org_id": team["org"], "lead_id": created["id"]}).execute().data
    assert fetched == created
    listed = client.rpc("list_leads", {"org_id": team["org"], "stage": "mql"}).execute().data
    assert [row["id"] for row in listed] == [created["id"]]


def test_supabase_client_with_only_the_anon_key_gets_nothing(api: ApiProcess, team: dict) -> None:
    client = create_client(api.url, make_token(None, "anon"), options=ClientOptions(schema="api"))
    with pytest.raises(Exception) as info:
        client.rpc("list_leads", {"org_id": team["org"]}).execute()
    assert "42501" in str(info.value)


def test_get_for_stable_functions_and_405_for_writes(api: ApiProcess, team: dict) -> None:
    headers = {"Authorization": f"Bearer {team['owner_token']}"}
    r = httpx.get(f"{api.url}/rest/v1/rpc/get_lead", params={"org_id": team["org"], "lead_id": team["lead"]},
                  headers=headers)
    assert r.status_code == 200 and r.json()["id"] == team["lead"]
    r = httpx.get(f"{api.url}/rest/v1/rpc/create_lead", params={"org_id": team["org"], "first_name": "X"},
                  headers=headers)
    assert r.status_code == 405 and r.json()["code"] == "PGRST101"


@pytest.mark.parametrize(
    ("label", "fn", "body", "raw", "status", "code"),
    [
        ("wrong type", "create_lead", {"org_id": "not-a-uuid", "first_name": "A"}, None, 400, "22P02"),
        ("bad enum", "create_lead", {"org_id": "ORG", "first_name": "A", "lifecycle_stage": "hot"}, None, 400,
         "22P02"),
        ("check constraint", "create_lead", {"org_id": "ORG", "email": "no-at-sign"}, None, 400, "23514"),
        ("nul byte", "create_lead", {"org_id": "ORG", "first_name": "A\u0000B"}, None, 400, "22P05"),
        ("unknown argument", "create_lead", {"org_id": "ORG", "first_name": "A", "shoe_size": 44}, None, 404,
         "PGRST202"),
        ("missing argument", "create_lead", {"first_name": "A"}, None, 404, "PGRST202"),
        ("unknown function", "drop_everything", {}, None, 404, "PGRST202"),
        ("malformed json", "create_lead", None, b'{"org_id": ', 400, "PGRST102"),
        ("not an object", "create_lead", None, b'["ORG"]', 400, "PGRST102"),
        ("oversized body", "create_lead", None, b'{"org_id": "ORG", "title": "' + b"x" * (2 << 20) + b'"}', 413,
         "PGRST413"),
        ("page size", "list_leads", {"org_id": "ORG", "page_size": 0}, None, 400, "22023"),
        ("bad change set", "update_lead", {"org_id": "ORG", "lead_id": "LEAD", "changes": {"org_id": "x"}}, None,
         400, "22023"),
        ("duplicate email", "create_lead", {"org_id": "ORG", "email": "erika@example.de"}, None, 409, "23505"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    api: ApiProcess, team: dict, label: str, fn: str, body: dict | None, raw: bytes | None, status: int, code: str
) -> None:
    if body is not None:
        body = json.loads(json.dumps(body).replace("ORG", team["org"]).replace("LEAD", team["lead"]))
    if raw is not None:
        raw = raw.replace(b"ORG", team["org"].encode())
    before = lead_count(api)
    r = rpc(api, fn, body, team["owner_token"], raw=raw)
    assert r.status_code == status, f"{label}: {r.status_code} {r.text[:300]}"
    error = r.json()
    assert error["code"] == code, label
    assert error["message"], label
    assert set(error) == {"code", "message", "details", "hint"}, label
    assert lead_count(api) == before, f"{label} wrote a row"


def _unsigned(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("label", "header", "code"),
    [
        ("forged", lambda t: f"Bearer {make_token(t['owner'], secret='another-secret-of-sufficient-length-123')}",
         "PGRST301"),
        ("expired", lambda t: f"Bearer {make_token(t['owner'], expires_in=-3600)}", "PGRST303"),
        ("alg none", lambda t: f"Bearer {_unsigned({'role': 'authenticated', 'sub': str(t['owner'])})}", "PGRST301"),
        ("superuser role", lambda t: f"Bearer {make_token(t['owner'], role='postgres')}", "PGRST301"),
        ("no sub", lambda t: f"Bearer {make_token(None, role='authenticated')}", "PGRST301"),
        ("sub not a uuid", lambda t: f"Bearer {make_token('alice')}", "PGRST301"),
        ("garbage", lambda t: "Bearer abc.def.ghi", "PGRST301"),
        ("basic auth", lambda t: "Basic dXNlcjpwYXNz", "PGRST301"),
    ],
)
def test_bad_tokens_are_refused(api: ApiProcess, team: dict, label: str, header, code: str) -> None:
    before = lead_count(api)
    r = httpx.post(f"{api.url}/rest/v1/rpc/create_lead", json={"org_id": team["org"], "first_name": "Mallory"},
                   headers={"Authorization": header(team)})
    assert r.status_code == 401, label
    assert r.json()["code"] == code, label
    assert r.headers["www-authenticate"].startswith("Bearer"), label
    assert lead_count(api) == before


def test_anonymous_caller_gets_401_from_postgres(api: ApiProcess, team: dict) -> None:
    r = httpx.post(f"{api.url}/rest/v1/rpc/list_leads", json={"org_id": team["org"]})
    assert r.status_code == 401 and r.json()["code"] == "42501"


def test_permission_denied_is_403(api: ApiProcess, team: dict) -> None:
    before = lead_count(api)
    r = rpc(api, "create_lead", {"org_id": team["org"], "first_name": "Ana"}, team["analyst_token"])
    assert r.status_code == 403 and r.json()["code"] == "42501"
    r = rpc(api, "update_lead", {"org_id": team["org"], "lead_id": team["lead"], "changes": {"title": "CEO"}},
            team["rep_token"])
    assert r.status_code == 403 and r.json()["code"] == "42501"
    assert "may not change" in r.json()["message"]
    assert lead_count(api) == before


def test_other_organisations_rows_are_404(api: ApiProcess, team: dict) -> None:
    stranger = make_token(uuid.uuid4())
    r = rpc(api, "get_lead", {"org_id": team["org"], "lead_id": team["lead"]}, stranger)
    assert r.status_code == 404 and r.json()["code"] == "PT404"
    r = rpc(api, "list_leads", {"org_id": team["org"]}, stranger)
    assert r.status_code == 200 and r.json() == []


def test_wrong_schema_profile_is_406(api: ApiProcess, team: dict) -> None:
    r = rpc(api, "list_leads", {"org_id": team["org"]}, team["owner_token"], headers={"Content-Profile": "salesflow"})
    assert r.status_code == 406 and r.json()["code"] == "PGRST106"


def test_claims_are_set_as_postgrest_sets_them(api: ApiProcess, team: dict) -> None:
    """create_organization reads sub and email from request.jwt.claims, as it would behind PostgREST."""
    user = uuid.uuid4()
    token = make_token(user, email="ceo@claims.example")
    org = rpc(api, "create_organization", {"name": "Claims AG"}, token).json()
    members = rpc(api, "list_org_members", {"org_id": org["id"]}, token).json()
    assert len(members) == 1
    assert members[0]["user_id"] == str(user) and members[0]["email"] == "ceo@claims.example"
    assert members[0]["role"] == "owner"


def test_rpc_description_lists_documented_functions(api: ApiProcess) -> None:
    paths = httpx.get(f"{api.url}/rest/v1/").json()["paths"]
    assert "/rpc/create_lead" in paths
    assert paths["/rpc/create_lead"]["post"]["summary"].startswith("Create a lead")
    assert "org_id" in paths["/rpc/create_lead"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"]


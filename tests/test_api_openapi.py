"""GET /rest/v1/ is valid OpenAPI 3.0 with typed arguments and return shapes, and a bounded fuzzing
run (schemathesis, fixed examples per operation, deterministic) against the live API gets no 5xx."""

from __future__ import annotations

import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate

from tests.conftest import ApiProcess, make_token


@pytest.fixture(scope="module")
def spec(api: ApiProcess) -> dict:
    r = httpx.get(f"{api.url}/rest/v1/", timeout=60)
    assert r.status_code == 200
    return r.json()


def test_the_description_validates_as_openapi_3(spec: dict) -> None:
    validate(spec)  # raises on any violation, e.g. "required": []
    assert spec["openapi"].startswith("3.0")


def test_arguments_and_results_carry_json_types(spec: dict) -> None:
    post = spec["paths"]["/rpc/list_leads"]["post"]
    args = post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert args["org_id"] == {"type": "string", "format": "uuid"}
    assert args["stage"]["type"] == "string" and "mql" in args["stage"]["enum"]  # from the enum type
    assert args["page_size"]["type"] == "integer"
    assert args["before"] == {"type": "string", "format": "date-time"}
    result = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert result["type"] == "array"  # setof
    columns = result["items"]["properties"]
    assert columns["id"]["format"] == "uuid" and columns["attributes"] == {} or "description" in columns["attributes"]
    assert "summary" in post
    for path, item in spec["paths"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body.get("required") != [], path
        for name, schema in body["properties"].items():
            assert "type" in schema or schema == {} or "enum" in schema, (path, name, schema)


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.fixture(scope="module")
def fuzz_schema(api: ApiProcess, spec: dict):  # noqa: ANN201 - schemathesis' schema object
    return schemathesis.openapi.from_dict(spec)


@pytest.fixture(scope="module")
def fuzz_token() -> str:
    return make_token(uuid.uuid4())


@schema.parametrize()
@settings(max_examples=3, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_fuzzing_the_rpcs_finds_no_server_error(case, api: ApiProcess, fuzz_token: str) -> None:  # noqa: ANN001
    response = case.call(base_url=f"{api.url}/rest/v1", headers={"Authorization": f"Bearer {fuzz_token}"},
                         timeout=60)
    assert response.status_code < 500, (case.path, case.body, response.text[:300])

"""Prompt test suites: cases stored by RPC (and shipped beside the prompt files), a run by the worker's
`test_prompt` job through the gateway against a pinned version, results next to production's, and
the production label gated by the suite (an override is logged).

The job runs in this process as the worker does, on the salesflow_worker role's own login, with the
gateway pointed at the fault server (scripted answers); the CLI runs in this process too.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlparse, urlunparse

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from salesflow import cli
from salesflow.functions.handlers import test_prompt
from salesflow.functions.prompt_tests import judge
from salesflow.gateway.product_prompts import product_prompt
from salesflow.gateway.prompt_files import load_prompt_tests
from tests.conftest import acting_as, make_token, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import PRIMARY, config_for

PROMPT = "search_parser.en"
QUESTION = "deals over 50k closing this quarter where a competitor came up"
GOOD = {"stages": [], "owner": "anyone", "min_amount": 50000, "max_amount": None, "close_from": "2026-04-01",
        "close_to": "2026-06-30", "competitor": "*", "company": None}
LOST = {**GOOD, "stages": ["closed_lost"]}


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as faults:
        yield faults


@pytest.fixture
def world(db: psycopg.Connection, db_url: str, server: FaultServer) -> dict:
    server.reset()
    db.autocommit = True
    owner, admin, rep, outsider = (uuid.uuid4() for _ in range(4))
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Suite GmbH')").fetchone()[0]
        db.execute("select api.add_org_member(%s, %s, 'admin')", (org, admin))
        db.execute("select api.add_org_member(%s, %s, 'rep')", (org, rep))
    with acting_as(db, outsider):
        other = db.execute("select id from api.create_organization('Other AG')").fetchone()[0]
    shipped = product_prompt("search_parser", "en")
    for template in (shipped.template, shipped.template + "\nAnswer with the filters only."):
        db.execute("select salesflow.create_prompt_version(%s, %s, %s, %s, %s, %s)",
                   (org, PROMPT, template, Jsonb(dict(shipped.variables)), Jsonb(dict(shipped.model_config)),
                    Jsonb(dict(shipped.output_schema or {}))))
    db.execute("select salesflow.set_prompt_label(%s, %s, 'production', 1)", (org, PROMPT))  # the first: not gated
    password = secrets.token_urlsafe(24)
    db.execute(psycopg.sql.SQL("alter role salesflow_worker login password {}").format(psycopg.sql.Literal(password)))
    parts = urlparse(db_url)
    worker_url = urlunparse(parts._replace(netloc=f"salesflow_worker:{quote(password, safe='')}@"
                                                  f"{parts.hostname}:{parts.port}"))
    return {"org": org, "owner": owner, "admin": admin, "rep": rep, "outsider": outsider, "other": other,
            "worker_url": worker_url, "config": config_for(server, [PRIMARY])}


def save_case(db: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, name: str, assertions: dict,
              inputs: dict | None = None) -> dict:
    with acting_as(db, user):
        return db.execute("select api.save_prompt_test_case(%s, %s, %s, %s, %s, %s)",
                          (org, PROMPT, name, Jsonb(assertions),
                           Jsonb(inputs if inputs is not None else {"today": "2026-05-14", "question": QUESTION}),
                           QUESTION)).fetchone()[0]


def run_suite(db: psycopg.Connection, world: dict, version: int) -> dict:
    """Ask for a run as the admin, run its job as the worker role, read the report as the rep."""
    with acting_as(db, world["admin"]):
        asked = db.execute("select api.request_prompt_test_run(%s, %s, %s)", (world["org"], PROMPT, version)
                           ).fetchone()[0]
    kind, payload, org = db.execute("select kind, payload, org_id from salesflow.jobs where id = %s",
                                    (asked["job_id"],)).fetchone()
    assert (kind, org, asked["version"], asked["status"]) == ("test_prompt", world["org"], version, "queued")
    for _ in range(2):  # delivered twice (at least once): the second finds the run finished
        run_handler(db, world["worker_url"], test_prompt.HANDLER, test_prompt.Payload.model_validate(payload),
                    job_id=asked["job_id"], org_id=org, llm_config=world["config"])
    with acting_as(db, world["rep"]):
        return db.execute("select api.get_prompt_test_run(%s, %s)", (world["org"], asked["run_id"])).fetchone()[0]


def move(db: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, version: int, reason: str | None = None) -> dict:
    with acting_as(db, user):
        return db.execute("select api.set_prompt_label(%s, %s, 'production', %s, %s)",
                          (org, PROMPT, version, reason)).fetchone()[0]


def test_a_failing_suite_blocks_production_until_an_override_is_logged(db, server, world):
    org, admin = world["org"], world["admin"]
    case = save_case(db, admin, org, "no-closed-deals", {"schema_valid": True, "must_not_contain": ["closed_lost"],
                                                         "max_length": 1000})
    assert case["source"] == "custom" and case["prompt"] == PROMPT
    # cases run in name order: the shipped one (big-deals-this-quarter) first, then the member's
    server.script(PRIMARY, ok(json.dumps(GOOD)), ok(json.dumps(LOST)))
    report = run_suite(db, world, 2)
    assert (report["status"], report["cases_total"], report["cases_passed"]) == ("failed", 2, 1)
    by_case = {r["case"]: r for r in report["results"]}
    assert set(by_case) == {"big-deals-this-quarter", "no-closed-deals"}
    assert by_case["big-deals-this-quarter"]["passed"] is True
    failed = by_case["no-closed-deals"]
    assert failed["passed"] is False and json.loads(failed["output"]) == LOST
    assert [c for c in failed["checks"] if not c["passed"]] == [
        {"check": "must_not_contain", "passed": False, "detail": "present: closed_lost"}]
    assert report["production"] == {"version": 1, "run_id": None, "status": "none", "cases_total": None,
                                    "cases_passed": None}
    # each case is one logged call of the pinned version, not of the label's
    logged = db.execute("select prompt_name, prompt_version, feature, status::text from salesflow.llm_requests "
                        "where id = any(%s) order by id", ([r["request_id"] for r in report["results"]],)).fetchall()
    assert logged == [(PROMPT, 2, "prompt.test", "ok")] * 2
    # the shipped case is stored like the member's, marked as shipped
    with acting_as(db, world["rep"]):
        cases = db.execute("select name, source from api.list_prompt_test_cases(%s, %s)", (org, PROMPT)).fetchall()
    assert cases == [("big-deals-this-quarter", "shipped"), ("no-closed-deals", "custom")]

    with pytest.raises(psycopg.Error, match=r"version 2 of search_parser.en has a failed test run \(1 of 2") as no:
        move(db, admin, org, 2)
    assert no.value.sqlstate == "PT409" and "override_reason" in no.value.diag.message_hint
    with pytest.raises(psycopg.Error, match="organization .* not found"):
        move(db, world["rep"], org, 2, "I want it")  # reps do not move labels
    moved = move(db, admin, org, 2, "  the failing case is a known model quirk  ")
    assert (moved["version"], moved["from_version"], moved["suite_status"]) == (2, 1, "failed")
    assert moved["run_id"] == report["run_id"] and moved["moved_by"] == str(admin)
    with acting_as(db, world["rep"]):
        history = db.execute("select from_version, to_version, suite_status, override_reason, moved_by "
                             "from api.list_prompt_label_moves(%s, %s)", (org, PROMPT)).fetchall()
    assert history == [(1, 2, "failed", "the failing case is a known model quirk", admin),
                       (None, 1, "none", None, None)]


def test_a_passing_suite_moves_production_and_is_compared_with_it(db, server, world):
    org, admin = world["org"], world["admin"]
    save_case(db, admin, org, "no-closed-deals", {"schema_valid": True, "must_not_contain": ["closed_lost"]})
    # a case that expects the compliance check to block the answer: the offending answer is withheld
    save_case(db, admin, org, "zz-blocked-claim", {"compliance": {"purpose": "sales", "passed": False},
                                                   "must_contain": ["guarantee"]})
    blocked = {**GOOD, "company": "We guarantee a 300% return, risk-free"}
    server.script(PRIMARY, *[ok(json.dumps(a)) for a in (GOOD, GOOD, blocked)])
    production = run_suite(db, world, 1)
    assert (production["status"], production["cases_passed"]) == ("failed", 2)
    zz = next(r for r in production["results"] if r["case"] == "zz-blocked-claim")
    assert zz["output"] is None and [c["passed"] for c in zz["checks"]] == [True, False]
    assert "withheld" in zz["checks"][1]["detail"]
    # the compliance verdict is logged as every verdict is
    assert db.execute("select passed from salesflow.compliance_log where request_id = %s",
                      (zz["request_id"],)).fetchone() == (False,)
    # make the third case achievable, then run again: v1 passes, so v2 is compared with a real run
    save_case(db, admin, org, "zz-blocked-claim", {"compliance": {"purpose": "sales", "passed": False}})
    server.script(PRIMARY, *[ok(json.dumps(a)) for a in (GOOD, GOOD, blocked, GOOD, GOOD, blocked)])
    v1 = run_suite(db, world, 1)
    v2 = run_suite(db, world, 2)
    assert (v1["status"], v2["status"], v2["cases_passed"]) == ("passed", "passed", 3)
    assert v2["production"]["version"] == 1 and v2["production"]["run_id"] == v1["run_id"]
    assert v2["production"]["status"] == "passed"
    assert [r["production_passed"] for r in v2["results"]] == [True, True, True]
    moved = move(db, admin, org, 2)
    assert (moved["suite_status"], moved["override_reason"], moved["run_id"]) == ("passed", None, v2["run_id"])


def test_bad_cases_and_other_tenants_get_clear_refusals(db, world):
    org, admin, rep, outsider = world["org"], world["admin"], world["rep"], world["outsider"]
    refusals = {
        "unknown check tone": {"tone": "warm"},
        "must_contain must be an array": {"must_contain": "Ada"},
        "min_length is above max_length": {"min_length": 10, "max_length": 5},
        'language must be "de" or "en"': {"language": "fr"},
        "compliance must be": {"compliance": {"passed": "yes"}},
        "at least one check": {},
    }
    for message, assertions in refusals.items():
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
            save_case(db, admin, org, "bad", assertions)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="case_name must be"):
        save_case(db, admin, org, "Bad Name!", {"schema_valid": True})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="at most 100000 bytes"):
        save_case(db, admin, org, "huge", {"schema_valid": True}, {"question": "x" * 100_001})
    with pytest.raises(psycopg.Error, match="organization .* not found"):
        save_case(db, rep, org, "by-a-rep", {"schema_valid": True})
    with pytest.raises(psycopg.Error, match="organization .* not found"):
        save_case(db, outsider, org, "by-an-outsider", {"schema_valid": True})
    with pytest.raises(psycopg.Error, match="prompt search_parser.en has no version 9"), acting_as(db, admin):
        db.execute("select api.request_prompt_test_run(%s, %s, 9)", (org, PROMPT))
    with pytest.raises(psycopg.Error, match="prompt nope.en not found"), acting_as(db, admin):
        db.execute("select api.request_prompt_test_run(%s, 'nope.en')", (org,))
    save_case(db, admin, org, "kept", {"schema_valid": True})
    with acting_as(db, admin):
        run = db.execute("select api.request_prompt_test_run(%s, %s)", (org, PROMPT)).fetchone()[0]
    assert run["version"] == 2  # the latest by default
    # another organisation's member sees neither the run nor the cases, and cannot delete one
    with pytest.raises(psycopg.Error, match="prompt test run .* not found"), acting_as(db, outsider):
        db.execute("select api.get_prompt_test_run(%s, %s)", (org, run["run_id"]))
    with acting_as(db, outsider):
        assert db.execute("select count(*) from api.list_prompt_test_cases(%s, %s)", (org, PROMPT)).fetchone() == (0,)
        assert db.execute("select api.delete_prompt_test_case(%s, %s, 'kept')", (org, PROMPT)).fetchone() == (False,)
    with acting_as(db, admin):
        assert db.execute("select api.delete_prompt_test_case(%s, %s, 'kept')", (org, PROMPT)).fetchone() == (True,)


def test_the_http_gateway_answers_a_refused_move_with_409_in_postgrests_shape(db, world, api):
    # the API process has a database of its own: the world is made there as it is here
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        org = conn.execute("insert into salesflow.organizations (name, slug) values ('Http', %s) returning id",
                           (f"http-{uuid.uuid4().hex[:8]}",)).fetchone()[0]
        admin = uuid.uuid4()
        conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'admin')",
                     (org, admin))
        for template in ("v1 {{question}} {{today}}", "v2 {{question}} {{today}}"):
            conn.execute("select salesflow.create_prompt_version(%s, %s, %s, %s)",
                         (org, PROMPT, template, Jsonb({"question": "string", "today": "string"})))
        conn.execute("select salesflow.set_prompt_label(%s, %s, 'production', 1)", (org, PROMPT))
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    body = {"org_id": str(org), "prompt_name": PROMPT, "label": "production", "version": 2}
    refused = httpx.post(f"{api.url}/rest/v1/rpc/set_prompt_label", json=body, headers=headers, timeout=30)
    assert refused.status_code == 409, refused.text
    assert set(refused.json()) == {"code", "message", "details", "hint"}
    assert refused.json()["message"] == "version 2 of search_parser.en has no finished test run"
    bad = httpx.post(f"{api.url}/rest/v1/rpc/save_prompt_test_case", headers=headers, timeout=30,
                     json={"org_id": str(org), "prompt_name": PROMPT, "case_name": "x", "assertions": {"nope": 1}})
    assert bad.status_code == 400 and bad.json()["message"] == "bad assertions: unknown check nope"
    done = httpx.post(f"{api.url}/rest/v1/rpc/set_prompt_label", headers=headers, timeout=30,
                      json={**body, "override_reason": "urgent fix"})
    assert done.status_code == 200 and done.json()["override_reason"] == "urgent fix"


def test_the_cli_prints_the_results_and_exits_by_the_verdict(db, db_url, server, world, tmp_path, monkeypatch,
                                                             capsys):
    config = tmp_path / "llm.toml"
    config.write_text(f'[providers.fault]\nkind = "openai_compatible"\nbase_url = "{server.base_url}"\n'
                      'api_key = "test"\ntimeout = 5.0\n\n[[models]]\nprovider = "fault"\nmodel = "primary"\n'
                      'context_window = 8000\ninput_price_per_mtok = 2.5\noutput_price_per_mtok = 10.0\n')
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SALESFLOW_LLM_CONFIG", str(config))
    db.commit()
    org = str(world["org"])
    server.script(PRIMARY, ok(json.dumps({**GOOD, "min_amount": 5000})))
    assert cli.main(["prompts", "test", PROMPT, "--org", org, "--version", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    # v1 is production: this run is production's latest
    assert out[0] == f"{PROMPT} v1: failed, 0 of 1 cases passed; production v1: failed 0/1"
    assert out[1].startswith("  FAIL big-deals-this-quarter (request ") and out[1].endswith("production: fail)")
    assert out[2] == "      must_contain: missing: 50000"
    server.script(PRIMARY, ok(json.dumps(GOOD)))
    assert cli.main(["prompts", "test", PROMPT, "--org", org]) == 0
    assert capsys.readouterr().out.startswith(f"{PROMPT} v2: passed, 1 of 1 cases passed; production v1: failed 0/1")
    for args, message in ((["nope.en", "--org", org], "salesflow: error: prompt nope.en not found"),
                          ([PROMPT, "--org", "no-such-org"], "salesflow: error: organisation 'no-such-org' not found"),
                          ([PROMPT, "--org", org, "--version", "7"],
                           "salesflow: error: prompt search_parser.en has no version 7")):
        assert cli.main(["prompts", "test", *args]) == 1
        assert capsys.readouterr().err.strip().splitlines()[0].startswith(message)


def test_judging_covers_each_assertion_and_the_shipped_cases_are_well_formed(db, world):
    schema = {"type": "object", "properties": {"body": {"type": "string"}}, "required": ["body"]}
    german = {"body": "Vielen Dank für Ihre Zeit. Wir melden uns nächste Woche bei Ihnen."}
    checks = judge({"schema_valid": True, "language": "de", "min_length": 10, "max_length": 20,
                    "must_contain": ["dank", "Preis"]}, text=json.dumps(german, ensure_ascii=False), data=german,
                   schema=schema, schema_error=None, verdict=None, failure=None)
    assert [(c["check"], c["passed"]) for c in checks] == [
        ("schema_valid", True), ("language", True), ("min_length", True), ("max_length", False),
        ("must_contain", False)]
    assert checks[4]["detail"] == "missing: Preis"
    assert judge({"language": "de"}, text="Thanks, we will call you next week.", data=None, schema=None,
                 schema_error=None, verdict=None, failure=None)[0]["detail"] == "reads as en (expected de)"
    wrong = judge({"schema_valid": True}, text='{"subject": "x"}', data={"subject": "x"}, schema=schema,
                  schema_error=None, verdict=None, failure=None)
    assert wrong[0]["passed"] is False and "'body' is a required property" in wrong[0]["detail"]
    gone = judge({"schema_valid": True, "must_contain": ["x"], "compliance": {"purpose": "sales", "passed": True}},
                 text=None, data=None, schema=schema, schema_error=None, verdict=None, failure="timeout: too slow")
    assert [c["passed"] for c in gone] == [False, False, False] and "timeout: too slow" in gone[1]["detail"]
    # every shipped case passes the database's own check of its assertions
    for case in load_prompt_tests():
        assert db.execute("select salesflow.prompt_test_assertion_problems(%s)", (Jsonb(dict(case.assertions)),)
                          ).fetchone() == (None,), case


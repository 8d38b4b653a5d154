"""The worker's `ai_suggest` job: the gateway in the worker's process, a suggestion stored for review.

The job runs in this process as a worker would run it (its own autocommit connections), with the
gateway pointed at the fault server; the suggestion is asked for and reviewed through the RPCs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.functions.handlers import ai_suggest
from salesflow.functions.registry import PermanentError, load_registry
from tests.conftest import acting_as, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import CLAUDE, PRIMARY, SECONDARY, config_for


def actions(placeholder: str) -> dict:
    return {"actions": [{"action": "call", "reason": f"asked about {placeholder}'s pricing", "due_in_days": 2,
                         "priority": "high"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as faults:
        yield faults


@pytest.fixture
def world(db: psycopg.Connection) -> dict:
    db.autocommit = True
    owner, rep, analyst = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Suggest GmbH')").fetchone()[0]
        db.execute("select api.add_org_member(%s, %s, 'rep')", (org, rep))
        db.execute("select api.add_org_member(%s, %s, 'analyst')", (org, analyst))
    with acting_as(db, rep):
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ada', email => 'ada@robotics.example')",
                          (org,)).fetchone()[0]
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Please send pricing to "
                   "ada@robotics.example, call me Tuesday.')", (org, lead))
    return {"org": org, "owner": owner, "rep": rep, "analyst": analyst, "lead": lead}


def run_job(db: psycopg.Connection, url: str, job_id: int, server: FaultServer) -> None:
    """Run one queued ai_suggest job in this process, as the worker would, its gateway on the fault server."""
    payload, org = db.execute("select payload, org_id from salesflow.jobs where id = %s", (job_id,)).fetchone()
    run_handler(db, url, ai_suggest.HANDLER, ai_suggest.Payload.model_validate(payload), job_id=job_id, org_id=org,
                llm_config=config_for(server, [PRIMARY]))


@pytest.fixture(autouse=True)
def fresh_fault_server(server: FaultServer) -> None:
    server.reset()


def test_a_suggestion_is_made_once_and_waits_for_review(db, db_url, server, world) -> None:
    org, lead, rep = world["org"], world["lead"], world["rep"]
    # the prompt's own rules mention [EMAIL_1] as an example, so the lead's address gets the next number
    server.script(PRIMARY, ok(json.dumps(actions("[EMAIL_2]"))))
    with acting_as(db, rep):
        job_id = db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions')", (org, lead)).fetchone()[0]
        again = db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions')", (org, lead)).fetchone()[0]
    assert again == job_id  # asking twice while it is pending queues one job
    run_job(db, db_url, job_id, server)
    # the lead's email went to the provider as a placeholder and came back in the stored suggestion
    [sent] = server.requests_for(PRIMARY)
    assert "ada@robotics.example" not in json.dumps(sent.body) and "<untrusted_data>" in json.dumps(sent.body)
    assert "pricing to [EMAIL_2]" in json.dumps(sent.body)
    with acting_as(db, rep):
        [row] = db.cursor(row_factory=dict_row).execute(
            "select * from api.list_ai_suggestions(%s, lead_id => %s)", (org, lead)).fetchall()
    assert row["status"] == "pending" and row["kind"] == "next_actions" and row["job_id"] == job_id
    assert row["content"]["actions"][0]["reason"] == "asked about ada@robotics.example's pricing"
    logged = db.execute("select task, feature, prompt_name, status from salesflow.llm_requests where id = %s",
                        (row["request_id"],)).fetchone()
    assert logged == ("classify", "suggest.next_actions", "recommendation_engine.en", "ok")

    # delivered again after a crash: no second model call, no second suggestion
    run_job(db, db_url, job_id, server)
    assert len(server.requests_for(PRIMARY)) == 1
    assert db.execute("select count(*) from salesflow.ai_suggestions where org_id = %s", (org,)).fetchone()[0] == 1

    with pytest.raises(psycopg.Error) as refused, acting_as(db, world["analyst"]):
        db.execute("select api.review_ai_suggestion(%s, %s, 'accepted')", (org, row["id"]))
    assert refused.value.sqlstate == "PT404"  # analysts read, they do not decide
    with acting_as(db, rep):
        reviewed = db.cursor(row_factory=dict_row).execute(
            "select * from api.review_ai_suggestion(%s, %s, 'accepted')", (org, row["id"])).fetchone()
    assert reviewed["status"] == "accepted" and reviewed["reviewed_by"] == rep
    feedback = db.execute("select outcome::text, user_id from salesflow.llm_feedback where request_id = %s",
                          (row["request_id"],)).fetchone()
    assert feedback == ("accepted", rep)
    with pytest.raises(psycopg.Error) as twice, acting_as(db, rep):
        db.execute("select api.review_ai_suggestion(%s, %s, 'rejected')", (org, row["id"]))
    assert twice.value.sqlstate == "PT404"


def test_an_answer_that_fails_its_schema_twice_stores_nothing(db, db_url, server, world) -> None:
    server.script(PRIMARY, ok("Call her."), ok('{"actions": "call"}'))
    with acting_as(db, world["rep"]):
        job_id = db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions', 'de')",
                            (world["org"], world["lead"])).fetchone()[0]
    with pytest.raises(PermanentError, match="schema twice"):
        run_job(db, db_url, job_id, server)
    assert db.execute("select count(*) from salesflow.ai_suggestions").fetchone()[0] == 0
    assert db.execute("select prompt_name, status from salesflow.llm_requests where org_id = %s",
                      (world["org"],)).fetchone() == ("recommendation_engine.de", "error")


def test_memory_facts_and_bad_requests(db, db_url, server, world) -> None:
    facts = {"facts": [{"fact": "Wants pricing by email", "category": "preference", "confidence": 0.8}],
             "summary": "Asked for pricing."}
    # summarize is routed by price, not by the test's chain: whichever model answers, it answers this
    for model in (PRIMARY, SECONDARY, CLAUDE):
        server.script(model, ok(json.dumps(facts)))
    with acting_as(db, world["rep"]):
        job_id = db.execute("select api.request_ai_suggestion(%s, %s, 'memory_facts')",
                            (world["org"], world["lead"])).fetchone()[0]
    run_job(db, db_url, job_id, server)
    content = db.execute("select content from salesflow.ai_suggestions where job_id = %s", (job_id,)).fetchone()[0]
    assert content == facts
    with pytest.raises(psycopg.Error) as bad, acting_as(db, world["rep"]):
        db.execute("select api.request_ai_suggestion(%s, %s, 'memory_facts', 'fr')", (world["org"], world["lead"]))
    assert bad.value.sqlstate == "22023"
    # the handler's whole call (offline too) ends before its timeout, which ends before the lease its
    # jobs are held with under a worker with the default 60 s lease
    assert ai_suggest.DEADLINE < ai_suggest.OFFLINE_DEADLINE < ai_suggest.HANDLER.timeout \
        < ai_suggest.HANDLER.lease_for(60.0)
    load_registry().check_lease(60.0)

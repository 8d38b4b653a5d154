"""Jobs about a lead that vanished (deleted, merged away, erased) complete as no-ops and keep no error
naming it: an erased person's id must not survive in jobs.last_error."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import psycopg.types.json
from pydantic import BaseModel, ConfigDict

from salesflow.functions.handlers import ai_suggest, erase_lead, evaluate_recommendations
from salesflow.functions.jobs import ClaimedJob, execute
from salesflow.functions.registry import Handler, JobContext, Registry
from salesflow.functions.resources import WorkerResources
from salesflow.gateway.config import load_config
from tests.channel_harness import make_org
from tests.conftest import acting_as, run_handler


def _lead(db: psycopg.Connection, org_id: uuid.UUID, rep: uuid.UUID) -> uuid.UUID:
    with acting_as(db, rep):
        return db.execute("select id from api.create_lead(%s, first_name => 'Ada')", (org_id,)).fetchone()[0]


def test_evaluation_waits_for_a_concurrent_delete_and_then_does_nothing(db: psycopg.Connection, db_url: str) -> None:
    db.autocommit = True
    org = make_org(db)
    lead = _lead(db, org.id, org.rep)
    outcome: dict[str, object] = {}
    with psycopg.connect(db_url) as eraser:
        # the erasure's order: hold the lead, then delete it, commit later
        eraser.execute("select 1 from salesflow.leads where org_id = %s and id = %s for update", (org.id, lead))
        eraser.execute("delete from salesflow.leads where org_id = %s and id = %s", (org.id, lead))

        def evaluate() -> None:
            try:
                with psycopg.connect(db_url, autocommit=True, application_name="j13-evaluate") as conn:
                    outcome["opened"] = conn.execute("select salesflow.evaluate_recommendations(%s, %s)",
                                                     (org.id, [lead])).fetchone()[0]
            except psycopg.Error as exc:
                outcome["error"] = str(exc)

        thread = threading.Thread(target=evaluate)
        thread.start()
        # the evaluation is blocked on the lead's row lock before the delete commits
        for _ in range(200):
            if db.execute("select count(*) from pg_stat_activity where application_name = 'j13-evaluate' "
                          "and wait_event_type = 'Lock'").fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the evaluation never waited for the deleting transaction")
        eraser.commit()
        thread.join(30)
    assert outcome == {"opened": 0}
    assert db.execute("select count(*) from salesflow.ai_recommendations where org_id = %s",
                      (org.id,)).fetchone()[0] == 0


def test_handlers_about_a_vanished_lead_complete_without_error(db: psycopg.Connection, db_url: str) -> None:
    db.autocommit = True
    org = make_org(db)
    gone = uuid.uuid4()
    # both return normally (an exception would fail the test) and write nothing
    run_handler(db, db_url, evaluate_recommendations.HANDLER,
                evaluate_recommendations.Payload(lead_ids=[gone]), org_id=org.id)
    run_handler(db, db_url, evaluate_recommendations.HANDLER, evaluate_recommendations.Payload(lead_ids=[]),
                org_id=org.id)
    run_handler(db, db_url, ai_suggest.HANDLER, ai_suggest.Payload(lead_id=gone, kind="memory_facts"),
                org_id=org.id)
    assert db.execute("select count(*) from salesflow.llm_requests where org_id = %s", (org.id,)).fetchone()[0] == 0


class _Write(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lead_id: uuid.UUID
    org_id: uuid.UUID


def _run(db_url: str, payload: _Write, kind: str, sql: str) -> object:
    async def run(job: JobContext, p: _Write) -> None:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute(sql, {"org_id": p.org_id, "lead_id": p.lead_id})

    handler = Handler(kind=kind, payload=_Write, run=run, timeout=10)
    job = ClaimedJob(id=1, queue="default", kind=kind, payload=payload.model_dump_json(), org_id=payload.org_id,
                     attempt=1, max_attempts=3, lease_expires_at=datetime.now(UTC) + timedelta(minutes=1))

    def context(j: ClaimedJob) -> JobContext:
        return JobContext(id=j.id, kind=j.kind, queue=j.queue, attempt=j.attempt, max_attempts=j.max_attempts,
                          org_id=j.org_id, worker="test", connection=None,  # type: ignore[arg-type]
                          resources=WorkerResources(load_config(env={})))

    return asyncio.run(execute(job, Registry({kind: handler}), context, max_payload_bytes=10_000))


def test_a_write_for_a_vanished_lead_completes_but_other_foreign_key_errors_fail(
        db: psycopg.Connection, db_url: str) -> None:
    db.autocommit = True
    org = make_org(db)
    gone = uuid.uuid4()
    insert = ("insert into salesflow.activities (org_id, lead_id, kind, body) "
              "values (%(org_id)s, %(lead_id)s, 'note', 'x')")
    vanished = _run(db_url, _Write(lead_id=gone, org_id=org.id), "write_activity", insert)
    assert (vanished.status, vanished.error) == ("completed", None)
    # a foreign key to something else is a real failure, reported as one
    other = _run(db_url, _Write(lead_id=gone, org_id=org.id), "write_activity",
                 "insert into salesflow.activities (org_id, deal_id, kind, body) "
                 "values (%(org_id)s, %(lead_id)s, 'note', 'x')")
    assert other.status == "failed" and "ForeignKeyViolation" in other.error and "deals" in other.error


def test_erasure_empties_a_running_jobs_payload_and_key(db: psycopg.Connection, db_url: str) -> None:
    db.autocommit = True
    org = make_org(db)
    lead = _lead(db, org.id, org.rep)
    db.execute("insert into salesflow.jobs (kind, org_id, payload, idempotency_key, status, attempts, worker, "
               "lease_expires_at, started_at) values ('extract_memory', %s, %s, %s, 'running', 1, 'w', "
               "now() + interval '1 minute', now())",
               (org.id, psycopg.types.json.Jsonb({"lead_id": str(lead)}), f"extract_memory:{lead}"))
    with acting_as(db, org.owner):
        request = db.execute("select id from api.erase_lead(%s, %s, 'test')", (org.id, lead)).fetchone()[0]
    run_handler(db, db_url, erase_lead.HANDLER, erase_lead.Payload(erasure_id=request), org_id=org.id)
    rows = db.execute("select kind, payload, idempotency_key from salesflow.jobs where org_id = %s and "
                      "status = 'running'", (org.id,)).fetchall()
    assert rows == [("extract_memory", {}, None)]
    assert not db.execute("select count(*) from salesflow.jobs where payload::text like %s or "
                          "idempotency_key like %s", (f"%{lead}%", f"%{lead}%")).fetchone()[0]

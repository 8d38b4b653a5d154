"""The AI decision audit: one lead walked through several AI features (a next-action suggestion, a
memory-fact suggestion, a BANT proposal, a DISG profile), each made by its worker job through the
gateway against the fault server, then read back through api.get_ai_decision_audit with the prompt
version, model and logged call that made it and the identifiers of the messages it read; a member of
another organisation gets nothing.
"""

from __future__ import annotations

import json
import uuid

import psycopg

from salesflow.functions.handlers import ai_suggest, analyze_personality, propose_bant
from tests.conftest import acting_as, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import CLAUDE, PRIMARY, SECONDARY, config_for

MESSAGES = ["Send me the numbers by Friday. I decide this week.",
            "Budget is about 40k EUR for this quarter. Our reports take days, that is the problem."]
ANSWERS = {
    "next_actions": {"actions": [{"action": "email", "reason": "asked for the numbers", "due_in_days": 1,
                                  "priority": "high"}]},
    "memory_facts": {"facts": [{"fact": "Decides this week", "category": "timeline", "confidence": 0.8}],
                     "summary": "Ada wants the numbers by Friday and decides this week."},
    "propose_bant": {"budget": 3, "authority": 3, "need": 2, "timeline": 2, "confidence": 0.7,
                     "evidence": {"budget": "about 40k EUR", "authority": "I decide this week",
                                  "need": "reports take days", "timeline": "this quarter"}},
    "analyze_personality": {"d": 0.9, "i": 0.1, "s": 0.2, "g": 0.4, "confidence": 0.6,
                            "evidence": ["Send me the numbers by Friday."]},
}
PROMPTS = {"suggestion.next_actions": "recommendation_engine.en", "suggestion.memory_facts": "memory_extraction.en",
           "bant_proposal": "bant_assessor.en", "disg_profile": "disg_profiler.en"}


def test_one_lead_walked_through_the_ai_features_has_every_decision_with_its_logged_call(db, db_url):
    db.autocommit = True
    owner, rep, outsider = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Audit GmbH')").fetchone()[0]
        db.execute("select api.add_org_member(%s, %s, 'rep')", (org, rep))
    with acting_as(db, outsider):
        db.execute("select api.create_organization('Other AG')")
    with acting_as(db, rep):
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ada')", (org,)).fetchone()[0]
        messages = [db.execute("select id from api.create_message(%s, %s, 'email', 'inbound', %s)",
                               (org, lead, body)).fetchone()[0] for body in MESSAGES]
        jobs = {
            "next_actions": db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions')",
                                       (org, lead)).fetchone()[0],
            "memory_facts": db.execute("select api.request_ai_suggestion(%s, %s, 'memory_facts')",
                                       (org, lead)).fetchone()[0],
            "propose_bant": db.execute("select api.request_bant_assessment(%s, %s)", (org, lead)).fetchone()[0],
            "analyze_personality": db.execute("select api.analyze_personality(%s, %s)", (org, lead)).fetchone()[0],
        }
    modules = {"next_actions": ai_suggest, "memory_facts": ai_suggest, "propose_bant": propose_bant,
               "analyze_personality": analyze_personality}
    with FaultServer() as server:
        config = config_for(server, [PRIMARY])
        for name, job in jobs.items():
            server.reset()
            for model in (PRIMARY, SECONDARY, CLAUDE):  # routed by task: whichever model answers, it answers this
                server.script(model, ok(json.dumps(ANSWERS[name])))
            payload = db.execute("select payload from salesflow.jobs where id = %s", (job,)).fetchone()[0]
            module = modules[name]
            run_handler(db, db_url, module.HANDLER, module.Payload.model_validate(payload), job_id=job, org_id=org,
                        llm_config=config)
    with acting_as(db, rep):
        audit = db.execute("select kind, decision_id, made_by, decision, inputs, request, offline_model "
                           "from api.get_ai_decision_audit(%s, %s)", (org, lead)).fetchall()
    by_kind = {row[0]: row for row in audit}
    assert set(PROMPTS) <= set(by_kind), by_kind.keys()
    for kind, prompt in PROMPTS.items():
        _, _, made_by, _, inputs, request, offline = by_kind[kind]
        assert request is not None, kind
        logged = db.execute("select prompt_name, prompt_version, provider, model from salesflow.llm_requests "
                            "where org_id = %s and id = %s", (org, request["id"])).fetchone()
        assert logged == (prompt, 1, "fault" if made_by["provider"] == "fault" else "fault-claude",
                          made_by["model"]), kind
        assert (made_by["prompt_name"], made_by["prompt_version"]) == (prompt, 1)
        assert request["status"] == "ok" and offline is False
        # the inputs are the lead's two messages, by id
        assert sorted(inputs["messages"]) == sorted(str(m) for m in messages), kind
    assert by_kind["bant_proposal"][3]["traffic_light"] is not None
    assert by_kind["disg_profile"][3]["dominant_type"] == "D"
    assert by_kind["suggestion.next_actions"][3] == ANSWERS["next_actions"]
    with acting_as(db, outsider):
        assert db.execute("select count(*) from api.get_ai_decision_audit(%s, %s)", (org, lead)).fetchone() == (0,)
    with psycopg.connect(db_url) as conn:  # the owner's connection sees the same inputs stored
        stored = conn.execute("select inputs from salesflow.personality_profiles where org_id = %s", (org,)).fetchone()
    assert sorted(stored[0]["messages"]) == sorted(str(m) for m in messages)

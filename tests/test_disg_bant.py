"""DISG profiles and BANT proposals: asked for by RPC, made by the worker's jobs through the AI gateway.

The jobs run in this process as a worker runs them (their own autocommit connections), with the
gateway pointed at the fault server (scripted provider answers) or at llama.cpp with SmolLM2 (the
offline model); results are read back through the RPCs as the members who asked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.assistant.chat import ChatService
from salesflow.db.queries import query
from salesflow.functions.handlers import analyze_personality, propose_bant
from salesflow.gateway.config import GatewayConfig, load_config, parse_config
from salesflow.gateway.errors import GatewayError
from salesflow.gateway.local import LocalLLMServer
from salesflow.gateway.product_prompts import product_prompt
from tests.conftest import acting_as, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import CLAUDE, PRIMARY, SECONDARY, Harness, config_for

MESSAGES = [
    "Send me the numbers by Friday. I decide this week.",
    "What exactly does the integration cost per seat? I need the documentation and a comparison.",
    "Our reports take days, that is the problem we need solved.",
    "Budget is about 40k EUR for this quarter.",
]


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as faults:
        yield faults


# the LLM configuration the next job runs with (each job gets worker resources of its own)
LLM: dict[str, GatewayConfig] = {}


@pytest.fixture(autouse=True)
def fault_gateway(server: FaultServer) -> Iterator[None]:
    server.reset()
    LLM["config"] = config_for(server, [PRIMARY])
    yield
    LLM.clear()


@pytest.fixture
def world(db: psycopg.Connection) -> dict:
    db.autocommit = True
    owner, rep, analyst, outsider = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Profile GmbH')").fetchone()[0]
        db.execute("select api.add_org_member(%s, %s, 'rep')", (org, rep))
        db.execute("select api.add_org_member(%s, %s, 'analyst')", (org, analyst))
    with acting_as(db, outsider):
        other = db.execute("select id from api.create_organization('Other AG')").fetchone()[0]
        other_lead = db.execute("select id from api.create_lead(%s, first_name => 'Eve')", (other,)).fetchone()[0]
    with acting_as(db, rep):
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ada')", (org,)).fetchone()[0]
        silent = db.execute("select id from api.create_lead(%s, first_name => 'Bo')", (org,)).fetchone()[0]
        for body in MESSAGES:
            db.execute("select api.create_message(%s, %s, 'email', 'inbound', %s)", (org, lead, body))
        # the rep's own words are not the lead's: a quote from them must be refused
        db.execute("select api.create_message(%s, %s, 'email', 'outbound', 'We guarantee the best onboarding.')",
                   (org, lead))
    return {"org": org, "owner": owner, "rep": rep, "analyst": analyst, "outsider": outsider, "lead": lead,
            "silent": silent, "other": other, "other_lead": other_lead}


def run_job(db: psycopg.Connection, url: str, job_id: int) -> None:
    kind, payload, org = db.execute("select kind, payload, org_id from salesflow.jobs where id = %s",
                                    (job_id,)).fetchone()
    module = {"analyze_personality": analyze_personality, "propose_bant": propose_bant}[kind]
    run_handler(db, url, module.HANDLER, module.Payload.model_validate(payload), job_id=job_id, org_id=org,
                llm_config=LLM["config"])


def script_all(server: FaultServer, answer: dict) -> None:
    # personality is routed by quality and price, not by the test's chain: whichever model answers, it answers this
    for model in (PRIMARY, SECONDARY, CLAUDE):
        server.script(model, ok(json.dumps(answer)))


def recommendations(db: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, lead: uuid.UUID,
                    language: str = "en") -> dict:
    with acting_as(db, user):
        return db.execute("select api.get_personality_recommendations(%s, %s, %s)", (org, lead, language)
                          ).fetchone()[0]


def test_a_profile_keeps_only_the_leads_own_quotes_and_the_database_picks_the_type(db, db_url, server, world):
    org, lead, rep = world["org"], world["lead"], world["rep"]
    script_all(server, {"d": 0.4, "i": 0.1, "s": 0.2, "g": 0.9, "confidence": 0.8, "evidence": [
        "I need the documentation and a comparison",  # the lead's words
        "what EXACTLY does the   integration cost",  # the lead's, with other case and spacing
        "We guarantee the best onboarding.",  # the rep's words, not the lead's
        "I am a very analytical person.",  # invented
    ]})
    with acting_as(db, rep):
        job = db.execute("select api.analyze_personality(%s, %s)", (org, lead)).fetchone()[0]
        assert db.execute("select api.analyze_personality(%s, %s)", (org, lead)).fetchone()[0] == job
    run_job(db, db_url, job)
    run_job(db, db_url, job)  # delivered again: nothing new
    stored = db.execute("select count(*) from salesflow.personality_profiles where org_id = %s", (org,)).fetchone()
    assert stored[0] == 1
    got = recommendations(db, rep, org, lead)
    assert got["dominant_type"] == "G" and got["source"] == "ai" and got["offline_model"] is False
    assert got["evidence_quotes"] == ["I need the documentation and a comparison",
                                      "what EXACTLY does the integration cost"]
    assert got["message_count"] == 4 and got["little_evidence"] is False and float(got["confidence"]) == 0.8
    assert got["guidance"]["summary"].startswith("Precise and analytical") and len(got["guidance"]["do"]) == 3
    assert "not a psychological assessment" in got["caveat"]
    de = recommendations(db, world["analyst"], org, lead, "de")  # analysts read
    assert de["guidance"]["summary"].startswith("Genau und analytisch") and "keine psychologische" in de["caveat"]
    # the lead's own words went to the model inside the untrusted-data fence; the rep's did not
    sent = json.dumps([r.body for m in (PRIMARY, SECONDARY, CLAUDE) for r in server.requests_for(m)])
    assert "Budget is about 40k EUR" in sent and "guarantee the best onboarding" not in sent
    # the profile reaches drafting and chat prompts through the lead context they share
    context = db.cursor(row_factory=dict_row).execute(query("lead_context"), {"org_id": org, "lead_id": lead}
                                                      ).fetchone()
    assert context["communication_style"].startswith("DISG G (hypothesis from 4 messages, confidence 0.800")
    with acting_as(db, rep):
        intel = db.execute("select api.get_lead_intelligence(%s, %s)", (org, lead)).fetchone()[0]
    assert intel["personality"]["dominant_type"] == "G" and intel["personality"]["little_evidence"] is False


def test_little_evidence_says_so_and_caps_confidence(db, db_url, server, world):
    org, lead, rep = world["org"], world["lead"], world["rep"]
    script_all(server, {"d": 0.9, "i": 0.1, "s": 0.1, "g": 0.2, "confidence": 0.95,
                        "evidence": ["Send me the numbers by Friday."]})
    with acting_as(db, rep):
        job = db.execute("select api.analyze_personality(%s, %s, 'de')", (org, lead)).fetchone()[0]
    run_job(db, db_url, job)
    got = recommendations(db, rep, org, lead, "de")
    assert got["dominant_type"] == "D" and got["little_evidence"] is True and float(got["confidence"]) == 0.4
    assert "wenig Belege" in got["caveat"]


def test_bad_requests_are_refused_with_reasons(db, world):
    org, rep = world["org"], world["rep"]
    cases = [
        (world["rep"], (org, world["silent"], "en"), "PT422"),  # no words of the lead's own
        (world["rep"], (org, world["lead"], "fr"), "22023"),
        (world["rep"], (org, world["other_lead"], "en"), "PT404"),  # another tenant's lead
        (world["analyst"], (org, world["lead"], "en"), "PT404"),  # analysts read, they do not ask
        (world["outsider"], (org, world["lead"], "en"), "PT404"),
    ]
    for user, args, state in cases:
        with pytest.raises(psycopg.Error) as refused, acting_as(db, user):
            db.execute("select api.analyze_personality(%s, %s, %s)", args)
        assert refused.value.sqlstate == state, args
    with pytest.raises(psycopg.Error) as none_yet, acting_as(db, rep):
        db.execute("select api.get_personality_recommendations(%s, %s)", (org, world["lead"]))
    assert none_yet.value.sqlstate == "PT404" and "analyze_personality" in none_yet.value.diag.message_hint
    with pytest.raises(psycopg.Error) as foreign, acting_as(db, world["outsider"]):
        db.execute("select api.get_personality_recommendations(%s, %s)", (org, world["lead"]))
    assert foreign.value.sqlstate == "PT404"
    assert db.execute("select count(*) from salesflow.jobs where kind = 'analyze_personality'").fetchone()[0] == 0


@pytest.mark.parametrize(("feature", "call"), [
    ("profiling", "select api.analyze_personality(%s, %s)"),
    ("bant", "select api.request_bant_assessment(%s, %s)"),
    ("suggestions", "select api.request_ai_suggestion(%s, %s, 'next_actions')"),
])
def test_a_disabled_flag_refuses_the_request(db, world, feature, call):
    org, lead = world["org"], world["lead"]
    with acting_as(db, world["owner"]):
        db.execute("select api.set_ai_feature_flag(%s, %s, false)", (org, feature))
    with pytest.raises(psycopg.Error) as off, acting_as(db, world["rep"]):
        db.execute(call, (org, lead))
    assert off.value.sqlstate == "PT403" and feature in off.value.diag.message_primary
    assert "set_ai_feature_flag" in off.value.diag.message_hint
    # rolled out to leads in other stages only: still refused for this lead's stage
    with acting_as(db, world["owner"]):
        db.execute("select api.set_ai_feature_flag(%s, %s, true, segments => '{customer}')", (org, feature))
    with pytest.raises(psycopg.Error) as segment, acting_as(db, world["rep"]):
        db.execute(call, (org, lead))
    assert segment.value.sqlstate == "PT403"
    with acting_as(db, world["owner"]):
        db.execute("select api.set_ai_feature_flag(%s, %s, true)", (org, feature))
    with acting_as(db, world["rep"]):
        assert db.execute(call, (org, lead)).fetchone()[0] > 0


def test_a_bant_proposal_waits_for_a_member_and_never_overwrites(db, db_url, server, world):
    org, lead, rep = world["org"], world["lead"], world["rep"]
    with acting_as(db, rep):
        manual = db.execute("select api.assess_bant(%s, %s, 1::smallint, 1::smallint, 1::smallint, 1::smallint)",
                            (org, lead)).fetchone()[0]
    answer = {"budget": 3, "authority": 3, "need": 2, "timeline": 2, "confidence": 0.7,
              "evidence": {"budget": "about 40k EUR", "authority": "I decide this week", "need": "reports take days",
                           "timeline": "this quarter"}}
    server.script(PRIMARY, ok(json.dumps(answer)))
    with acting_as(db, rep):
        job = db.execute("select api.request_bant_assessment(%s, %s)", (org, lead)).fetchone()[0]
    run_job(db, db_url, job)
    run_job(db, db_url, job)
    assert len(server.requests_for(PRIMARY)) == 1
    with acting_as(db, rep):
        bant = db.execute("select api.get_bant(%s, %s)", (org, lead)).fetchone()[0]
    # the proposal does not touch the current assessment
    assert bant["current"]["id"] == manual["id"] and bant["current"]["total_score"] == 4
    [proposal] = bant["proposals"]
    assert proposal["status"] == "proposed" and proposal["method"] == "ai" and proposal["total_score"] == 10
    assert proposal["evidence"]["budget"] == "about 40k EUR" and proposal["offline_model"] is False
    jsonschema.validate(answer, product_prompt("bant_assessor", "en").output_schema)

    for user, decision, state in [(world["analyst"], "accepted", "PT404"), (rep, "maybe", "22023"),
                                  (world["outsider"], "accepted", "PT404")]:
        with pytest.raises(psycopg.Error) as refused, acting_as(db, user):
            db.execute("select api.review_bant_proposal(%s, %s, %s)", (org, proposal["id"], decision))
        assert refused.value.sqlstate == state
    with acting_as(db, rep):
        reviewed = db.execute("select api.review_bant_proposal(%s, %s, 'accepted')", (org, proposal["id"])
                              ).fetchone()[0]
        bant = db.execute("select api.get_bant(%s, %s)", (org, lead)).fetchone()[0]
        health = db.execute("select api.get_lead_intelligence(%s, %s)", (org, lead)).fetchone()[0]["bant"]
    assert reviewed["status"] == "accepted" and reviewed["reviewed_by"] == str(rep)
    assert bant["current"]["id"] == proposal["id"] and bant["proposals"] == [] and len(bant["history"]) == 2
    assert health["current"]["total_score"] == 10
    with pytest.raises(psycopg.Error) as twice, acting_as(db, rep):
        db.execute("select api.review_bant_proposal(%s, %s, 'rejected')", (org, proposal["id"]))
    assert twice.value.sqlstate == "PT404"


def offline_config(server: FaultServer):
    """One model, marked offline, on the fault server: the shape the offline path has."""
    return parse_config({
        "providers": {"fault": {"kind": "openai_compatible", "base_url": server.base_url, "api_key": "test",
                                "timeout": 2.0}},
        "models": [{"provider": "fault", "model": PRIMARY, "context_window": 8000, "input_price_per_mtok": 0,
                    "output_price_per_mtok": 0, "quality": 0.05, "offline": True}],
        "retry": {"attempts_per_model": 1, "base_delay": 0.01, "max_delay": 0.05, "max_retry_after": 5.0},
    }, {})


def test_when_the_offline_model_gives_nothing_usable_the_labelled_baseline_is_stored(db, db_url, server, world):
    org, lead, rep = world["org"], world["lead"], world["rep"]
    LLM["config"] = offline_config(server)
    server.script(PRIMARY, *[ok("I think this lead is nice.")] * 4)
    with acting_as(db, rep):
        profile_job = db.execute("select api.analyze_personality(%s, %s)", (org, lead)).fetchone()[0]
        bant_job = db.execute("select api.request_bant_assessment(%s, %s)", (org, lead)).fetchone()[0]
    run_job(db, db_url, profile_job)
    run_job(db, db_url, bant_job)
    got = recommendations(db, rep, org, lead)
    assert got["source"] == "baseline" and got["offline_model"] is True
    assert got["evidence_quotes"] and all(any(q in m for m in MESSAGES) for q in got["evidence_quotes"])
    assert float(got["confidence"]) <= 0.5
    with acting_as(db, rep):
        [proposal] = db.execute("select api.get_bant(%s, %s)", (org, lead)).fetchone()[0]["proposals"]
    assert proposal["offline_model"] is True and proposal["notes"].startswith("Offline word-list baseline")
    assert proposal["budget"] == 2 and proposal["evidence"]["budget"] == "Budget is about 40k EUR for this quarter."


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLLMServer]:
    with LocalLLMServer(log_path=tmp_path_factory.mktemp("llama") / "llama.log") as local:
        yield local


def test_the_offline_model_path_stores_a_schema_valid_labelled_profile(db, db_url, world, llama, tmp_path: Path):
    org, lead, rep = world["org"], world["lead"], world["rep"]
    LLM["config"] = load_config(env={"SALESFLOW_LOCAL_LLM_URL": llama.base_url})
    with acting_as(db, rep):
        job = db.execute("select api.analyze_personality(%s, %s)", (org, lead)).fetchone()[0]
    run_job(db, db_url, job)
    got = recommendations(db, rep, org, lead)
    assert got["offline_model"] is True and got["source"] in ("ai", "baseline")
    assert got["dominant_type"] in "DISG" and got["guidance"]["summary"]
    # whatever the tiny model wrote, only the lead's own words survive as evidence
    normalised = [" ".join(m.lower().split()) for m in MESSAGES]
    assert all(any(q.lower() in m for m in normalised) for q in got["evidence_quotes"])
    if got["source"] == "ai":
        logged = db.execute("select provider, status, prompt_name from salesflow.llm_requests where org_id = %s",
                            (org,)).fetchone()
        assert logged == ("local", "ok", "disg_profiler.en")


def test_chat_refuses_when_its_flag_is_off(db, db_url, server, world):
    org, rep = world["org"], world["rep"]
    harness = Harness(db_url, config_for(server, [PRIMARY]))
    try:
        chat = ChatService(harness.gateway)
        opened = harness.run(chat.open(org, rep, None, world["lead"], "en"))
        assert opened.lead_id == world["lead"]
        with acting_as(db, world["owner"]):
            db.execute("select api.set_ai_feature_flag(%s, 'chat', false)", (org,))
        with pytest.raises(GatewayError) as off:
            harness.run(chat.open(org, rep, opened.id, None, "en"))
        assert off.value.status == 403 and off.value.code == "PT403" and "chat" in str(off.value)
        # rolled out by lead, to nobody: refused for this lead, whoever asks
        with acting_as(db, world["owner"]):
            db.execute("select api.set_ai_feature_flag(%s, 'chat', true, 0, 'lead')", (org,))
        with pytest.raises(GatewayError):
            harness.run(chat.open(org, world["owner"], None, world["lead"], "en"))
    finally:
        harness.close()

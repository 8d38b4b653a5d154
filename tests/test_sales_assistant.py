"""The sales assistant (issue 14) over real HTTP: drafts written through the gateway against the fault
server speaking the OpenAI protocol, stored with their provenance, picked, edited and approved into
the outbox by a person; compliance on demand; next actions; plain-language search; and another
tenant's token getting nothing of any of it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.gateway.product_prompts import product_prompt
from tests.conftest import ApiProcess, make_token, run_api
from tests.fault_server import FaultServer, ok

WRITER = "writer"
EMAIL = {"subject": "Your rollout in March", "body": "Dear Ms Berg, thank you for your note about the March "
         "rollout. Would a 20-minute call next week help? If you prefer no further emails, just tell me.",
         "personalisation": ["asked about a rollout in March"]}
REPLIES = {"variants": [{"label": "answer directly", "text": "Yes, Tuesday at 10 works for us."},
                        {"label": "ask back", "text": "Which time on Tuesday suits you best?"},
                        {"label": "next step", "text": "Shall I send an agenda for Tuesday?"}]}
SUBJECTS = {"variants": [{"subject": "Your March rollout", "reason": "names their own topic"},
                         {"subject": "Two questions before Tuesday", "reason": "concrete and short"},
                         {"subject": "Agenda for our call", "reason": "clear purpose"}]}


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def server(faults: FaultServer) -> FaultServer:
    faults.reset()
    return faults


@pytest.fixture(scope="module")
def app(module_db_url: str, faults: FaultServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    config = Path(tmp_path_factory.mktemp("llm")) / "salesflow.toml"
    config.write_text(
        f'[providers.fault]\nkind = "openai_compatible"\nbase_url = "{faults.base_url}"\napi_key = "test"\n'
        'timeout = 5.0\n\n'
        f'[[models]]\nprovider = "fault"\nmodel = "{WRITER}"\ncontext_window = 16000\n'
        'input_price_per_mtok = 1.0\noutput_price_per_mtok = 2.0\nquality = 0.9\n\n'
        f'[tasks.draft]\nfallbacks = ["fault/{WRITER}"]\n[tasks.script]\nfallbacks = ["fault/{WRITER}"]\n'
        '[retry]\nattempts_per_model = 1\n')
    with run_api(module_db_url, {"SALESFLOW_LLM_CONFIG": str(config)}) as process:
        yield process


def rpc(app: ApiProcess, headers: dict[str, str], function: str, **args: Any) -> httpx.Response:
    return httpx.post(f"{app.url}/rest/v1/rpc/{function}", json=args, headers=headers, timeout=30)


def ok_json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


class Org:
    def __init__(self, app: ApiProcess, name: str) -> None:
        self.app = app
        self.user = uuid.uuid4()
        self.headers = {"Authorization": f"Bearer {make_token(self.user)}"}
        self.id = ok_json(rpc(app, self.headers, "create_organization", name=name))["id"]
        company = ok_json(rpc(app, self.headers, "create_company", org_id=self.id, name=f"{name} Kunde GmbH",
                              industry="Logistics"))["id"]
        domain = name.lower().replace(" ", "-")
        self.lead = ok_json(rpc(app, self.headers, "create_lead", org_id=self.id, first_name="Anna",
                                last_name="Berg", email=f"anna@{domain}.example", title="Head of Operations",
                                company_id=company))["id"]
        self.inbound = ok_json(rpc(app, self.headers, "create_message", org_id=self.id, lead_id=self.lead,
                                   channel="email", direction="inbound", subject="Rollout",
                                   body="Can we plan the rollout for March? We also look at Salesforce."))["id"]

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(f"{self.app.url}{path}", json=body, timeout=60,
                          headers=self.headers if headers is None else headers)


@pytest.fixture(scope="module")
def acme(app: ApiProcess, module_db_url: str) -> Org:
    org = Org(app, "Acme")
    with psycopg.connect(module_db_url, autocommit=True) as db:
        db.execute("insert into salesflow.bant_assessments (org_id, lead_id, budget, authority, need, timeline) "
                   "values (%s, %s, 1, 3, 3, 2)", (org.id, org.lead))
        db.execute("insert into salesflow.personality_profiles (org_id, lead_id, d, i, s, g, confidence, source) "
                   "values (%s, %s, 0.2, 0.1, 0.3, 0.9, 0.6, 'manual')", (org.id, org.lead))
    return org


@pytest.fixture(scope="module")
def borg(app: ApiProcess) -> Org:
    return Org(app, "Borg")


def db_rows(url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db:
        return db.execute(query, params).fetchall()


def system_prompt(server: FaultServer) -> str:
    requests = server.requests_for(WRITER)
    assert requests, "the model was not called"
    return requests[-1].body["messages"][0]["content"]


def test_a_composed_email_is_a_stored_draft_with_its_provenance_and_nothing_is_sent(
        app: ApiProcess, acme: Org, server: FaultServer) -> None:
    server.script(WRITER, ok(json.dumps(EMAIL)))
    draft = ok_json(acme.post("/api/ai/email/compose", {
        "org_id": acme.id, "lead_id": acme.lead, "purpose": "follow up on the rollout question", "tone": "formal"}))
    assert (draft["kind"], draft["status"], draft["subject"], draft["body"]) == (
        "email", "draft", EMAIL["subject"], EMAIL["body"])
    assert draft["offline_model"] is False and draft["notice"] is None
    jsonschema.validate(draft["content"], product_prompt("email_composer", "en").output_schema)
    # the prompt read the lead's memory, BANT and DISG, and never the lead's address
    prompt = system_prompt(server)
    assert "Can we plan the rollout for March?" in prompt and "Head of Operations" in prompt
    assert '"traffic_light"' in prompt and '"dominant_type": "G"' in prompt
    assert "anna@acme.example" not in json.dumps(server.requests_for(WRITER)[-1].body)
    # provenance: the logged call, its prompt version, the inputs' ids
    logged = db_rows(app.database_url, "select prompt_name, prompt_version, feature, status from "
                     "salesflow.llm_requests where org_id = %s and id = %s", acme.id, draft["request_id"])
    assert logged == [{"prompt_name": "email_composer.en", "prompt_version": draft["prompt_version"],
                       "feature": "assistant.email", "status": "ok"}]
    assert draft["prompt_name"] == "email_composer.en"
    assert draft["inputs"]["lead_id"] == acme.lead and acme.inbound in draft["inputs"]["memory_message_ids"]
    assert {"bant_assessment_id", "personality_profile_id"} <= set(draft["inputs"])
    verdicts = db_rows(app.database_url, "select action, passed from salesflow.compliance_log "
                       "where org_id = %s and request_id = %s", acme.id, draft["request_id"])
    assert verdicts == [{"action": "delivered", "passed": True}]
    assert db_rows(app.database_url, "select id from salesflow.outbox where org_id = %s", acme.id) == []


def test_an_edited_draft_goes_to_the_outbox_only_when_a_member_accepts_it(
        app: ApiProcess, acme: Org, server: FaultServer) -> None:
    server.script(WRITER, ok(json.dumps(EMAIL)))
    draft = ok_json(acme.post("/api/ai/email/compose", {"org_id": acme.id, "lead_id": acme.lead,
                                                        "purpose": "book a call", "language": "de"}))
    assert draft["prompt_name"] == "email_composer.de"
    edited = ok_json(rpc(app, acme.headers, "edit_ai_draft", org_id=acme.id, draft_id=draft["id"],
                         body="Guten Tag Frau Berg, passt Ihnen Dienstag?"))
    assert edited["edited_by"] == str(acme.user) and edited["status"] == "draft"
    # an edit PostgreSQL cannot store, or one too long, is refused and the draft keeps the member's text
    for bad in ("a\u0000b", "x" * 100001, "   "):
        refused = rpc(app, acme.headers, "edit_ai_draft", org_id=acme.id, draft_id=draft["id"], body=bad)
        assert refused.status_code == 400, refused.text
    assert rpc(app, acme.headers, "pick_ai_variant", org_id=acme.id, draft_id=draft["id"],
               variant=0).status_code == 400  # an email draft has no variants
    [kept] = [d for d in ok_json(rpc(app, acme.headers, "list_ai_drafts", org_id=acme.id, lead_id=acme.lead))
              if d["id"] == draft["id"]]
    assert kept["body"] == "Guten Tag Frau Berg, passt Ihnen Dienstag?"
    accepted = ok_json(rpc(app, acme.headers, "review_ai_draft", org_id=acme.id, draft_id=draft["id"],
                           decision="accepted"))
    assert accepted["status"] == "approved" and accepted["outbox_id"]
    outbox = db_rows(app.database_url, "select body, ai_generated, status::text, approved_by from salesflow.outbox "
                     "where org_id = %s and id = %s", acme.id, accepted["outbox_id"])
    assert outbox == [{"body": "Guten Tag Frau Berg, passt Ihnen Dienstag?", "ai_generated": True,
                       "status": "approved", "approved_by": acme.user}]
    feedback = db_rows(app.database_url, "select outcome::text from salesflow.llm_feedback where org_id = %s "
                       "and request_id = %s", acme.id, draft["request_id"])
    assert feedback == [{"outcome": "edited"}]
    # once reviewed, neither an edit nor a second approval gets through
    assert rpc(app, acme.headers, "edit_ai_draft", org_id=acme.id, draft_id=draft["id"], body="x").status_code == 404
    again = rpc(app, acme.headers, "review_ai_draft", org_id=acme.id, draft_id=draft["id"], decision="accepted")
    assert again.status_code == 409, again.text


def test_reply_variants_are_picked_then_sent_and_picks_are_counted_per_prompt_version(
        app: ApiProcess, acme: Org, server: FaultServer) -> None:
    server.script(WRITER, ok(json.dumps(REPLIES)))
    draft = ok_json(acme.post("/api/ai/email/reply-suggestions", {"org_id": acme.id, "message_id": acme.inbound}))
    assert draft["kind"] == "reply" and draft["body"] is None and draft["subject"] == "Re: Rollout"
    assert draft["source_message_id"] == acme.inbound and len(draft["content"]["variants"]) == 3
    early = rpc(app, acme.headers, "review_ai_draft", org_id=acme.id, draft_id=draft["id"], decision="accepted")
    assert early.status_code == 400 and "pick" in early.json()["hint"]
    assert rpc(app, acme.headers, "pick_ai_variant", org_id=acme.id, draft_id=draft["id"],
               variant=3).status_code == 400
    picked = ok_json(rpc(app, acme.headers, "pick_ai_variant", org_id=acme.id, draft_id=draft["id"], variant=1))
    assert picked["picked_variant"] == 1 and picked["body"] == REPLIES["variants"][1]["text"]
    ok_json(rpc(app, acme.headers, "review_ai_draft", org_id=acme.id, draft_id=draft["id"], decision="accepted"))
    rows = ok_json(rpc(app, acme.headers, "writing_performance", org_id=acme.id))
    reply = next(r for r in rows if r["kind"] == "reply")
    assert (reply["prompt_name"], reply["picked"], reply["approved"]) == ("reply_suggestions.en", 1, 1)


def test_subject_variants_come_with_reasons_and_an_outbound_message_gets_no_reply_variants(
        app: ApiProcess, acme: Org, server: FaultServer) -> None:
    server.script(WRITER, ok(json.dumps(SUBJECTS)))
    draft = ok_json(acme.post("/api/ai/email/optimize-subject", {
        "org_id": acme.id, "lead_id": acme.lead, "subject": "Follow-up", "body": "About the rollout ..."}))
    assert [v["reason"] for v in draft["content"]["variants"]] == [v["reason"] for v in SUBJECTS["variants"]]
    picked = ok_json(rpc(app, acme.headers, "pick_ai_variant", org_id=acme.id, draft_id=draft["id"], variant=0))
    assert picked["subject"] == "Your March rollout"
    outbound = ok_json(rpc(app, acme.headers, "create_message", org_id=acme.id, lead_id=acme.lead, channel="email",
                           direction="outbound", body="Our offer"))["id"]
    refused = acme.post("/api/ai/email/reply-suggestions", {"org_id": acme.id, "message_id": outbound})
    assert refused.status_code == 400 and "inbound" in refused.json()["message"]


def test_a_script_reads_the_disg_profile_and_a_blocked_answer_is_withheld_and_not_stored(
        app: ApiProcess, acme: Org, server: FaultServer) -> None:
    script = {"opening": "Guten Tag Frau Berg", "discovery_questions": ["Wie planen Sie den Rollout?"],
              "value_points": ["Weniger Abstimmung"], "objection_prep": [], "close": "Telefonat am Dienstag?"}
    server.script(WRITER, ok(json.dumps(script)))
    draft = ok_json(acme.post(f"/api/ki/scripts/generate/{acme.lead}", {"org_id": acme.id, "goal": "discovery",
                                                                        "language": "de"}))
    assert draft["kind"] == "script" and draft["content"] == script
    assert '"dominant_type": "G"' in system_prompt(server)
    before = len(db_rows(app.database_url, "select id from salesflow.ai_drafts where org_id = %s", acme.id))
    server.script(WRITER, ok(json.dumps({**script, "close": "Wir garantieren Ihnen 30 % Ersparnis."})))
    withheld = acme.post(f"/api/ki/scripts/generate/{acme.lead}", {"org_id": acme.id, "language": "de"})
    assert withheld.status_code == 422, withheld.text
    assert len(db_rows(app.database_url, "select id from salesflow.ai_drafts where org_id = %s", acme.id)) == before
    verdict = db_rows(app.database_url, "select action from salesflow.compliance_log where org_id = %s "
                      "order by id desc limit 1", acme.id)
    assert verdict == [{"action": "withheld"}]


def test_an_answer_that_is_not_json_twice_stores_no_draft_and_logs_the_call(
        app: ApiProcess, acme: Org, server: FaultServer) -> None:
    server.script(WRITER, ok("Sure! Here is an email: Hi Anna"), ok("Dear Anna, ..."))
    before = len(db_rows(app.database_url, "select id from salesflow.ai_drafts where org_id = %s", acme.id))
    failed = acme.post("/api/ai/email/compose", {"org_id": acme.id, "lead_id": acme.lead, "purpose": "hello"})
    assert failed.status_code == 502 and failed.json()["code"] == "invalid_output"
    assert len(db_rows(app.database_url, "select id from salesflow.ai_drafts where org_id = %s", acme.id)) == before
    last = db_rows(app.database_url, "select status from salesflow.llm_requests where org_id = %s "
                   "order by id desc limit 1", acme.id)
    assert last == [{"status": "error"}]


@pytest.mark.parametrize(("body", "status"), [
    ({"tone": "shouty"}, 400),
    ({"purpose": "hi\u0000there"}, 400),
    ({"purpose": "   "}, 400),
    ({"previous_emails": ["x"] * 6}, 400),
    ({"lead_id": "not-a-uuid"}, 400),
    ({"lead_id": str(uuid.uuid4())}, 404),
    ({"wibble": 1}, 400),
])
def test_bad_compose_requests_are_refused_with_a_reason_before_any_call(
        app: ApiProcess, acme: Org, server: FaultServer, body: dict[str, Any], status: int) -> None:
    response = acme.post("/api/ai/email/compose", {"org_id": acme.id, "lead_id": acme.lead, "purpose": "x", **body})
    assert response.status_code == status, response.text
    assert set(response.json()) >= {"code", "message", "details", "hint"}
    assert server.requests_for(WRITER) == []


def test_a_lead_without_consent_to_ai_processing_is_refused(app: ApiProcess, server: FaultServer) -> None:
    org = Org(app, "Careful")
    ok_json(rpc(app, org.headers, "set_lead_consent", org_id=org.id, lead_id=org.lead, channel="email",
                may_contact=True, ai_processing=False))
    writing = org.post("/api/ai/email/compose", {"org_id": org.id, "lead_id": org.lead, "purpose": "x"})
    chat = org.post("/api/chat/stream", {"org_id": org.id, "lead_id": org.lead, "message": "What next?"})
    # one refusal, one answer: both refuse in their RPC (api.writing_context, api.lead_chat_context)
    # through salesflow.require_ai_consent, as 403 with code PT403
    for refused in (writing, chat):
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "PT403" and "does not consent to AI processing" in refused.json()["message"]
    assert writing.json()["message"] == chat.json()["message"]
    assert server.requests_for(WRITER) == []


def test_an_organisation_that_switched_drafting_off_gets_no_draft(app: ApiProcess, server: FaultServer) -> None:
    org = Org(app, "Switched Off")
    ok_json(rpc(app, org.headers, "set_ai_feature_flag", org_id=org.id, feature="drafting", enabled=False))
    refused = org.post("/api/ai/email/compose", {"org_id": org.id, "lead_id": org.lead, "purpose": "x"})
    assert refused.status_code == 409 and "switched off" in refused.json()["message"]
    assert server.requests_for(WRITER) == []


def test_another_tenant_gets_nothing_of_the_drafts_or_the_lead(
        app: ApiProcess, acme: Org, borg: Org, server: FaultServer) -> None:
    server.script(WRITER, ok(json.dumps(EMAIL)))
    draft = ok_json(acme.post("/api/ai/email/compose", {"org_id": acme.id, "lead_id": acme.lead, "purpose": "x"}))
    server.reset()
    for path, body in (("/api/ai/email/compose", {"org_id": acme.id, "lead_id": acme.lead, "purpose": "x"}),
                       ("/api/ai/email/compose", {"org_id": borg.id, "lead_id": acme.lead, "purpose": "x"}),
                       ("/api/ai/email/reply-suggestions", {"org_id": borg.id, "message_id": acme.inbound}),
                       (f"/api/ki/scripts/generate/{acme.lead}", {"org_id": borg.id})):
        assert borg.post(path, body).status_code == 404, path
    assert server.requests_for(WRITER) == []
    assert ok_json(rpc(app, borg.headers, "list_ai_drafts", org_id=acme.id)) == []
    for name, args in (("edit_ai_draft", {"body": "mine now"}), ("review_ai_draft", {"decision": "accepted"}),
                       ("pick_ai_variant", {"variant": 0})):
        for org in (acme.id, borg.id):
            response = rpc(app, borg.headers, name, org_id=org, draft_id=draft["id"], **args)
            assert response.status_code in (403, 404), (name, response.text)
    assert acme.post("/api/ai/email/compose", {"org_id": acme.id, "lead_id": acme.lead, "purpose": "x"},
                     headers={}).status_code == 401


def test_compliance_on_demand_gives_the_gateways_findings_and_logs_the_verdict_without_the_text(
        app: ApiProcess, acme: Org, borg: Org) -> None:
    text = "Wir garantieren Ihnen 30 % Ersparnis, nur heute!"
    result = ok_json(acme.post("/api/ki/compliance/check", {"org_id": acme.id, "text": text, "language": "de"}))
    assert result["passed"] is False and any(f["rule_id"] == "forbidden.guarantee" for f in result["findings"])
    logged = db_rows(app.database_url, "select user_id, task, action, passed, text_sha256, findings::text "
                     "from salesflow.compliance_log where org_id = %s and id = %s", acme.id, result["log_id"])
    assert len(logged) == 1 and logged[0]["user_id"] == acme.user
    assert (logged[0]["task"], logged[0]["action"], logged[0]["passed"]) == ("compliance_check", "checked", False)
    assert "garantieren" not in logged[0]["findings"]
    clean = ok_json(acme.post("/api/ki/compliance/check", {"org_id": acme.id, "text": "Passt Ihnen Dienstag?"}))
    assert clean["passed"] is True and clean["findings"] == []
    # marketing needs an opt-out: the same text fails for that purpose
    marketing = ok_json(acme.post("/api/ki/compliance/check", {"org_id": acme.id, "text": "Passt Ihnen Dienstag?",
                                                               "purpose": "marketing"}))
    assert marketing["passed"] is False
    assert acme.post("/api/ki/compliance/check", {"org_id": acme.id, "text": "a\u0000b"}).status_code == 400
    assert acme.post("/api/ki/compliance/check", {"org_id": acme.id, "text": "x" * 20001}).status_code == 400
    assert borg.post("/api/ki/compliance/check", {"org_id": acme.id, "text": text}).status_code == 404
    # a rep sees their own verdicts, another tenant none
    assert ok_json(rpc(app, borg.headers, "record_compliance_check", org_id=borg.id, purpose="sales", passed=True,
                       findings=[], rules_version="x", text_sha256="0" * 64)) > 0
    assert rpc(app, borg.headers, "record_compliance_check", org_id=acme.id, purpose="sales", passed=True,
               findings=[], rules_version="x", text_sha256="0" * 64).status_code == 404


def test_next_actions_rank_recommendations_and_what_the_predictions_call_for(
        app: ApiProcess, acme: Org, borg: Org) -> None:
    past = (date.today() - timedelta(days=200)).isoformat()  # outside this quarter: see the search test
    deal = ok_json(rpc(app, acme.headers, "create_deal", org_id=acme.id, name="Rollout", lead_id=acme.lead,
                       amount=60000, stage="proposal", expected_close=past))["id"]
    actions = ok_json(acme.post("/api/ai/predictions/next-actions", {"org_id": acme.id, "deal_id": deal}))
    overdue = [a for a in actions if a["action"] == "update_close_date"]
    assert overdue and overdue[0]["target_deal_id"] == deal and overdue[0]["source"] == "prediction"
    assert past in overdue[0]["reason"]
    priorities = [a["priority"] for a in actions]
    assert priorities == sorted(priorities, reverse=True)
    assert borg.post("/api/ai/predictions/next-actions", {"org_id": acme.id}).status_code == 404
    assert ok_json(borg.post("/api/ai/predictions/next-actions", {"org_id": borg.id, "deal_id": deal})) == []
    assert acme.post("/api/ai/predictions/next-actions", {"org_id": acme.id, "horizon_days": 0}).status_code == 400


def test_plain_language_search_returns_its_interpretation_and_only_the_callers_deals(
        app: ApiProcess, acme: Org, borg: Org, server: FaultServer) -> None:
    today = datetime.now(UTC).date()
    quarter_end = date(today.year + (today.month > 9), (((today.month - 1) // 3 + 1) * 3) % 12 + 1, 1) \
        - timedelta(days=1)
    other = ok_json(rpc(app, acme.headers, "create_lead", org_id=acme.id, first_name="Bo"))["id"]
    ok_json(rpc(app, acme.headers, "create_message", org_id=acme.id, lead_id=other, channel="email",
                direction="inbound", body="We stay with our current tool."))
    wanted = ok_json(rpc(app, acme.headers, "create_deal", org_id=acme.id, name="Big one", lead_id=acme.lead,
                         amount=75000, expected_close=quarter_end.isoformat()))["id"]
    for name, lead, amount in (("Small", acme.lead, 40000), ("No rival", other, 90000)):
        ok_json(rpc(app, acme.headers, "create_deal", org_id=acme.id, name=name, lead_id=lead, amount=amount,
                    expected_close=quarter_end.isoformat()))
    question = "deals over 50k closing this quarter against Salesforce"
    found = ok_json(acme.post("/api/ai/search", {"org_id": acme.id, "question": question, "k": 0,
                                                 "parser": "rules"}))
    seen = found["interpretation"]
    assert (seen["min_amount"], seen["competitor"], seen["close_to"]) == (50000, "Salesforce", quarter_end.isoformat())
    assert [d["deal_id"] for d in found["deals"]] == [wanted]
    assert "Salesforce" in found["deals"][0]["competitor_evidence"]
    german = ok_json(acme.post("/api/ai/search", {"org_id": acme.id, "k": 0, "parser": "rules",
                                                  "question": "Deals über 50.000 € in diesem Quartal"}))
    assert german["interpretation"]["min_amount"] == 50000 and len(german["deals"]) >= 2
    theirs = ok_json(borg.post("/api/ai/search", {"org_id": borg.id, "question": question, "k": 0,
                                                  "parser": "rules"}))
    assert theirs["deals"] == []
    assert borg.post("/api/ai/search", {"org_id": acme.id, "question": question, "k": 0}).status_code == 404
    assert acme.post("/api/ai/search", {"org_id": acme.id, "question": "a\u0000"}).status_code == 400
    memory = ok_json(acme.post("/api/ai/search", {"org_id": acme.id, "question": "rollout in March", "k": 3,
                                                  "parser": "rules"}))
    assert memory["interpretation"]["entity"] == "memory" and memory["memory_search"] in ("hybrid", "keyword")
    # with a provider configured, a model reads the question (logged); a broken answer falls back to the rules
    server.reset()
    server.script(WRITER, ok(json.dumps({"stages": [], "owner": "anyone", "min_amount": 60000, "max_amount": None,
                                         "close_from": quarter_end.replace(day=1, month=quarter_end.month - 2)
                                         .isoformat(), "close_to": quarter_end.isoformat(),
                                         "competitor": "Salesforce", "company": None})))
    read = ok_json(acme.post("/api/ai/search", {"org_id": acme.id, "question": question, "k": 0}))
    assert read["interpretation"]["method"] == "model" and read["interpretation"]["min_amount"] == 60000
    assert read["interpretation"]["request_id"] is not None
    assert [d["deal_id"] for d in read["deals"]] == [wanted]
    assert "search_parser.en" in [r["prompt_name"] for r in db_rows(
        app.database_url, "select prompt_name from salesflow.llm_requests where org_id = %s", acme.id)]
    server.script(WRITER, ok("Sure, here are filters"), ok("min 50k"))
    fallback = ok_json(acme.post("/api/ai/search", {"org_id": acme.id, "question": question, "k": 0}))
    assert fallback["interpretation"]["method"] == "offline_rules"
    assert "model parse failed" in fallback["interpretation"]["understood"][-1]
    assert [d["deal_id"] for d in fallback["deals"]] == [wanted]


def test_templates_are_proposed_from_emails_that_got_replies_with_the_person_taken_out(
        app: ApiProcess, borg: Org) -> None:
    now = datetime.now(UTC)
    leads = [ok_json(rpc(app, borg.headers, "create_lead", org_id=borg.id, first_name=name, last_name="Kern"))["id"]
             for name in ("Jo", "Ida", "Uwe")]

    def message(lead: str, direction: str, subject: str, body: str, days_ago: float) -> None:
        ok_json(rpc(app, borg.headers, "create_message", org_id=borg.id, lead_id=lead, channel="email",
                    direction=direction, subject=subject, body=body,
                    sent_at=(now - timedelta(days=days_ago)).isoformat()))

    for i, lead in enumerate(leads):
        name = ("Jo", "Ida", "Uwe")[i]
        message(lead, "outbound", f"Angebot {2024 + i}", f"Hallo {name} Kern, anbei das Angebot. Also bis bald. "
                f"Fragen gern an {name.lower()}@kern.example", 20 - i)
        message(lead, "outbound", "Kurze Frage", "Haben Sie kurz Zeit?", 10 - i)
    message(leads[2], "inbound", "Re: Angebot 2026", "Danke, passt!", 17.5)
    message(leads[0], "inbound", "Später", "Melde mich im Herbst.", 1)  # nine days after: not a reply
    proposed = ok_json(rpc(app, borg.headers, "propose_reply_templates", org_id=borg.id))
    assert [(p["subject_pattern"], p["sent"], p["replied"]) for p in proposed] == [("angebot #", 3, 1)]
    template = proposed[0]["template_body"]
    assert template == ("Hallo {{first_name}} {{last_name}}, anbei das Angebot. Also bis bald. "
                        "Fragen gern an {{email}}")
    assert ok_json(rpc(app, borg.headers, "propose_reply_templates", org_id=borg.id, min_sent=4)) == []
    assert rpc(app, {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}, "propose_reply_templates",
               org_id=borg.id).status_code == 404

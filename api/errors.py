"""PostgREST's error shape and its mapping from SQLSTATE to HTTP status."""

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
    "42P17": 500,
}
_CLASSES = {
    "08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500, "39": 500,
    "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500, "57": 500, "58": 500, "F0": 500, "HV": 500,
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

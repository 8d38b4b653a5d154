"""Bearer JWT verification as PostgREST does it: HS256 only, expiry checked, role from the claims."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jwt

from salesflow.api.errors import ApiError

ALLOWED_ROLES = ("anon", "authenticated", "service_role")
# a little slack for clocks that disagree between the issuer and this host
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class Caller:
    role: str
    claims: dict[str, Any]

    @property
    def authenticated(self) -> bool:
        return self.role != "anon"

    @cached_property
    def claims_json(self) -> str:
        """The claims as request.jwt.claims text, encoded once per verified token (callers are cached)."""
        return json.dumps(self.claims)


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(
        401, code, message,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{message}"'},
    )


def caller_from_headers(authorization: str | None, apikey: str | None, secret: str) -> Caller:
    """Resolve the request's role and claims; no token at all means the anonymous role."""
    token: str | None = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("PGRST301", "Authorization header must be 'Bearer <jwt>'")
        token = value.strip()
    elif apikey:
        # Supabase's gateway turns a bare apikey into the bearer token; so do we
        token = apikey.strip()
    if token is None:
        return Caller("anon", {"role": "anon"})
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=LEEWAY_SECONDS,
            options={"verify_aud": False, "require": ["exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("PGRST303", "JWT expired") from None
    except jwt.MissingRequiredClaimError:
        raise _unauthorized("PGRST301", "JWT must carry an exp claim (expiry time)") from None
    except jwt.InvalidTokenError as exc:
        raise _unauthorized("PGRST301", f"JWT invalid: {exc}") from None
    if not isinstance(claims, dict):
        raise _unauthorized("PGRST301", "JWT claims must be a JSON object")
    exp = claims.get("exp")
    # PyJWT accepts any exp that int() takes, such as "9999999999"; Supabase's is always a number
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise _unauthorized("PGRST301", "JWT exp must be a number (seconds since the epoch)")
    role = claims.get("role") or "anon"
    if role not in ALLOWED_ROLES:
        raise _unauthorized("PGRST301", f"JWT role {role!r} is not one of {', '.join(ALLOWED_ROLES)}")
    sub = claims.get("sub")
    if sub is not None:
        try:
            uuid.UUID(str(sub))
        except ValueError:
            raise _unauthorized("PGRST301", "JWT sub must be a user id (UUID)") from None
    if role == "authenticated" and sub is None:
        raise _unauthorized("PGRST301", "JWT for the authenticated role must carry a sub (user id)")
    return Caller(role, claims)

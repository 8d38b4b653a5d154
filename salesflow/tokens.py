"""HS256 tokens with Supabase's claims, for the demo and for operators (`salesflow token`)."""

from __future__ import annotations

import time
import uuid

import jwt

TEN_YEARS = 10 * 365 * 24 * 3600


def issue_token(
    secret: str, role: str = "anon", *, user_id: uuid.UUID | str | None = None, email: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """A signed JWT as Supabase issues them: `role`, optional `sub`/`email`, `iat` and `exp`."""
    now = int(time.time())
    claims: dict[str, object] = {"iss": "salesflow", "role": role, "iat": now, "exp": now + ttl_seconds}
    if user_id is not None:
        claims["sub"] = str(user_id)
        claims["aud"] = "authenticated"
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")

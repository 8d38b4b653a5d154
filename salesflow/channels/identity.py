"""Address normalisation for identity stitching: phonenumbers for E.164, email rules, WhatsApp ids."""

from __future__ import annotations

import email.utils
import re

import phonenumbers

DEFAULT_REGION = "DE"


def normalize_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 (+4915112345678) or None when `raw` is not a possible number.

    WhatsApp ids (wa_id) are international digits without '+'; national numbers use `region`.
    """
    if not raw:
        return None
    text = raw.strip()
    if text.isdigit() and not text.startswith("0") and len(text) >= 8:
        text = "+" + text  # a wa_id / msisdn: already international
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        return None
    # possible (right length for its country) and long enough to be a subscriber's number, not a short code
    if not phonenumbers.is_possible_number(number) or len(str(number.national_number)) < 6:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str | None) -> str | None:
    """The bare address of `raw` ("Ada <Ada@Example.COM>" -> "ada@example.com"), IDNA domain; None if invalid.

    The whole address is lower-cased, as the leads table stores it (local parts are case-sensitive in
    theory, never in practice); dots and +tags are kept, since they can be different people.
    """
    if not raw:
        return None
    _, address = email.utils.parseaddr(raw.strip())
    address = address.strip()
    if address.count("@") != 1:
        return None
    local, domain = address.rsplit("@", 1)
    if not local or "." not in domain or any(c.isspace() for c in address):
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"{local}@{domain}".lower()


def sql_address(address: str) -> str:
    """An address as salesflow.normalize_phone leaves it (spaces, dots, dashes, brackets, slashes dropped)."""
    text = re.sub(r"[\s().\-/]", "", address.strip())
    return "+" + text[2:] if text.startswith("00") else text


def wa_user_address(user_id: str) -> str:
    """The WhatsApp identity address of a business-scoped user id (no phone number known)."""
    return sql_address(f"bsuid:{user_id}")


def identifiers(*, email_address: str | None = None, phone: str | None = None,
                wa_user_id: str | None = None) -> list[str]:
    """The identifiers in salesflow.identifier_hash's form ('email:..', 'phone:+..', 'addr:whatsapp:..')."""
    out = []
    if email_address:
        out.append(f"email:{email_address}")
    if phone:
        out.append(f"phone:{phone}")
    if wa_user_id:
        out.append(f"addr:whatsapp:{wa_user_address(wa_user_id)}")
    return out

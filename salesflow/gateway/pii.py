"""Reversible PII redaction for text on its way to an LLM provider.

The gateway swaps emails, phone numbers, IBANs, card numbers and street addresses for placeholders
(`[EMAIL_1]`, `[PHONE_2]`, ...) before a call, keeps the originals in a `PlaceholderVault` that lives
only as long as that call, and puts them back into the answer (`restore`, or `StreamRestorer` for a
streamed answer). The provider never sees the values; the person reading the answer does.

Detection is regular expressions plus checks that cut false positives: the ISO 13616 check for
IBANs and Luhn for cards (both from python-stdnum), Google's libphonenumber metadata (the
`phonenumbers` package) for international numbers, digit counts and dialling-prefix rules for
national ones, and the words just before a number ("Tel.", "Kundennummer") where the digits alone
are ambiguous.

Cost bound: `Redactor.find` is O(n) in the length n of the text. Every pattern is bounded
(a phone candidate is at most `_MAX_PHONE_GROUPS` groups of at most 15 digits, an IBAN at most
34 characters, a card at most 10 groups, an e-mail local part 64 characters), the scan for the
next candidate always moves forward past at least one digit group, and the checks made on a
candidate (context words, checksums, libphonenumber) read a window of constant size around it.
So each position of the text is looked at a bounded number of times, whatever the text is.
`tests/test_pii.py::test_detection_is_linear_on_pathological_text` compares n with 8n.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn as stdnum_luhn

KINDS = ("email", "phone", "iban", "card", "address")

# When two detectors claim overlapping text, the earlier kind wins. The checksummed kinds come first:
# a valid IBAN or Luhn-valid card is near-certain, and their digit runs would otherwise also look like
# phone numbers. Detection always runs for every kind and the disabled kinds are dropped afterwards,
# so turning IBANs off never lets an IBAN's digits turn up as a "phone number".
_PRIORITY = ("iban", "card", "email", "phone", "address")

_PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|IBAN|CARD|ADDRESS)_([1-9]\d*)\]")
_PLACEHOLDER_NAMES = tuple(kind.upper() for kind in KINDS)
# "[ADDRESS_" is 9 characters; 11 more digits is more placeholders than any call makes.
_MAX_PARTIAL = 20


@dataclass(frozen=True)
class Span:
    """One detected value: its kind and where it sits in the text (`text[start:end] == value`)."""

    kind: str
    start: int
    end: int
    value: str


class PlaceholderVault:
    """One per LLM call: the same value always gets the same placeholder across all messages of the call.

    Values are kept verbatim (not normalised), because restoring must give back exactly what the
    person wrote: "+49 30 1234567" and "+49301234567" get two placeholders.
    """

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._mapping: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        # placeholders that were already in the text when it came in (from an earlier redaction,
        # or typed by someone); new values must not be numbered onto them, or restore would
        # replace the stranger's placeholder with our value
        self._reserved: set[str] = set()

    def placeholder_for(self, kind: str, value: str) -> str:
        """The placeholder for `value` of `kind`; the first call for a value allocates the next number."""
        if kind not in KINDS:
            raise ValueError(f"unknown PII kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        key = (kind, value)
        placeholder = self._by_value.get(key)
        if placeholder is None:
            number = self._counters.get(kind, 0)
            while True:
                number += 1
                placeholder = f"[{kind.upper()}_{number}]"
                if placeholder not in self._reserved:
                    break
            self._counters[kind] = number
            self._by_value[key] = placeholder
            self._mapping[placeholder] = value
        return placeholder

    def reserve(self, placeholder: str) -> None:
        """Keep a placeholder that is already in incoming text from being allocated to a new value."""
        if placeholder not in self._mapping:
            self._reserved.add(placeholder)

    def restore(self, text: str) -> str:
        """Every known placeholder back to its original value; unknown placeholders are left as they are."""
        if not self._mapping:
            return text
        return _PLACEHOLDER.sub(lambda m: self._mapping.get(m.group(0), m.group(0)), text)

    def restore_data(self, value: Any) -> Any:
        """`restore` applied to every string in a parsed JSON value (keys and values), at any depth."""
        if isinstance(value, str):
            return self.restore(value)
        if isinstance(value, dict):
            return {self.restore(k): self.restore_data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore_data(v) for v in value]
        return value

    @property
    def mapping(self) -> dict[str, str]:
        """Placeholder -> original value (a copy)."""
        return dict(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)


class StreamRestorer:
    """Restores placeholders in a streamed answer whose chunks may split a placeholder ("[EMA" + "IL_1]")."""

    def __init__(self, vault: PlaceholderVault) -> None:
        self._vault = vault
        self._pending = ""

    def feed(self, chunk: str) -> str:
        """Text safe to emit now: everything but a possible partial placeholder at the end (≤ 20 chars)."""
        text = self._pending + chunk
        cut = text.rfind("[")
        if cut >= 0 and _could_become_placeholder(text[cut:]):
            # splitting at a "[" is safe: no complete placeholder straddles the start of another
            self._pending = text[cut:]
            text = text[:cut]
        else:
            self._pending = ""
        return self._vault.restore(text)

    def flush(self) -> str:
        """The rest at the end of the stream (a partial placeholder that never completed, as it was)."""
        text, self._pending = self._pending, ""
        return self._vault.restore(text)


def _could_become_placeholder(tail: str) -> bool:
    """True when `tail` (starting with "[") is a prefix of some placeholder, but not a whole one."""
    if len(tail) > _MAX_PARTIAL or "]" in tail:
        return False
    body = tail[1:]
    name, underscore, digits = body.partition("_")
    if underscore:
        return name in _PLACEHOLDER_NAMES and (digits == "" or digits.isdigit())
    return any(full.startswith(body) for full in _PLACEHOLDER_NAMES)


class Redactor:
    """Finds PII of the configured kinds and swaps it for placeholders from a vault."""

    def __init__(self, kinds: Iterable[str] = KINDS) -> None:
        if isinstance(kinds, str):
            raise ValueError(f"kinds must be a list of PII kinds, not the string {kinds!r}")
        chosen = tuple(kinds)
        unknown = [kind for kind in chosen if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown PII kind(s) {', '.join(map(repr, unknown))}; valid kinds: {', '.join(KINDS)}")
        self.kinds: frozenset[str] = frozenset(chosen)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> Redactor:
        """A redactor for an organisation's "pii" settings, e.g. {"enabled": true, "kinds": ["email", "phone"]}.

        None or {} redacts every kind; {"enabled": false} gives a redactor that changes nothing.
        Unknown keys are refused rather than ignored, so a typo ("kind") cannot silently turn redaction
        back to its defaults.
        """
        if settings is None:
            return cls()
        if not isinstance(settings, Mapping):
            raise ValueError(f"PII settings must be a JSON object, not {type(settings).__name__}")
        unknown = sorted(set(settings) - {"enabled", "kinds"})
        if unknown:
            raise ValueError(f"unknown PII setting(s) {', '.join(unknown)}; allowed: enabled, kinds")
        enabled = settings.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"PII setting 'enabled' must be true or false, not {enabled!r}")
        kinds = settings.get("kinds", KINDS)
        if not isinstance(kinds, list | tuple) or not all(isinstance(kind, str) for kind in kinds):
            raise ValueError(f"PII setting 'kinds' must be a list of kinds out of {', '.join(KINDS)}")
        redactor = cls(kinds)
        return redactor if enabled else cls(())

    @property
    def enabled(self) -> bool:
        """False when this redactor changes nothing."""
        return bool(self.kinds)

    def find(self, text: str) -> list[Span]:
        """Every value of the enabled kinds in `text`: non-overlapping, sorted by position."""
        if not self.kinds:
            return []
        # Placeholders already in the text are masked out, so redacting redacted text changes nothing.
        masked = _PLACEHOLDER.sub(lambda m: "\x00" * len(m.group(0)), text)
        taken: list[Span] = []
        for kind in _PRIORITY:
            for start, end in _DETECTORS[kind](masked):
                if not any(start < span.end and span.start < end for span in taken):
                    taken.append(Span(kind, start, end, text[start:end]))
        return sorted((span for span in taken if span.kind in self.kinds), key=lambda span: span.start)

    def redact(self, text: str, vault: PlaceholderVault) -> str:
        """`text` with every value found replaced by its placeholder from `vault`."""
        for match in _PLACEHOLDER.finditer(text):
            vault.reserve(match.group(0))
        parts: list[str] = []
        position = 0
        for span in self.find(text):
            parts.append(text[position : span.start])
            parts.append(vault.placeholder_for(span.kind, span.value))
            position = span.end
        parts.append(text[position:])
        return "".join(parts)


# --- emails -----------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w%+-](?:[\w.%+-]{0,62}[\w%+-])?"  # local part: no leading or trailing dot
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)
# "anna [at] firma [dot] de", "anna (at) firma.de": people write these to dodge harvesters, and they
# are just as personal
_EMAIL_OBFUSCATED = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+\s?[\[(]\s?(?:at|ät|@)\s?[\])]\s?[^\W_][\w-]*"
    r"(?:(?:\s?[\[(]\s?(?:dot|punkt)\s?[\])]\s?|\.)[^\W_][\w-]*)+",
    re.IGNORECASE,
)


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_EMAIL, _EMAIL_OBFUSCATED):
        for match in pattern.finditer(text):
            yield match.span()


# --- phone numbers ----------------------------------------------------------------------------------

_SPACE = "[ \u00a0\u202f]"
# Groups of digits joined by one separator each: a space, "-", "/", ".", the German trunk "(0)"
# or a parenthesised area code "(030)" / "(415)". Bounded: E.164 allows 15 digits, and no written
# number has more than a handful of groups; the bound is what keeps detection linear.
_MAX_PHONE_GROUPS = 10
_PHONE_CANDIDATE = re.compile(
    rf"(?<![\w+])(?:(?:\+|00){_SPACE}?)?(?:\(\d{{1,5}}\){_SPACE}?\d{{1,15}}|\d{{1,15}})"
    rf"(?:(?:{_SPACE}?\(0\){_SPACE}?|{_SPACE}?[-/.]{_SPACE}?|{_SPACE}|{_SPACE}?\(\d{{1,5}}\){_SPACE}?)\d{{1,15}})"
    rf"{{0,{_MAX_PHONE_GROUPS - 1}}}"
)
_PHONE_GROUP = re.compile(r"\d+")
_DATE_START = re.compile(r"(?:\d{1,2}([./-])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2})(?!\d)")
# "+12.345.678", "1.234.567": an amount with thousands separators, not a number to dial
_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:[.,]\d{3})+")
_US_NATIONAL = re.compile(rf"(?:\+?1[-. ]?)?(?:\([2-9]\d\d\){_SPACE}?|[2-9]\d\d[-. ])[2-9]\d\d[-. ]\d{{4}}")
# Words that say the next number is a phone number ("Tel.-Nr." included, so it beats "Nr" below).
# A bare "number" is not one of them: "company number", "account number" precede other numbers.
_PHONE_WORDS = re.compile(
    r"(?:\btel(?:efon|ephone)?\b\.?(?:[- ]?(?:nr|no|nummer|number)\b\.?)?|\bphone\b(?: (?:no\b\.?|number))?"
    r"|\b(?:mobil|handy|cell|fax|rufnummer|durchwahl|hotline|zentrale|whatsapp|signal|sms|festnetz|landline)\w*"
    r"|\b(?:ruf|call|erreich|reach|text|anrufen|dial|wähl|kontakt|contact)\w*|\bdirect line\b"
    r"|\b(?:my|meine|our|unsere|this|diese|the|die)(?: (?:new|neue|private|mobile|direct|right|richtige|wrong"
    r"|falsche|old|alte))? (?:nummer|number)\b|\b[TMFO]\b\.?)",
    re.IGNORECASE,
)
# Words that say the next number is something else: an order, an invoice, a customer or a postcode.
_ID_WORDS = re.compile(
    r"(?:\b(?:nr|no|id|ref|az|po|sku|lot|plz|zip|iban|bic|blz|vat)\b\.?|#"
    r"|\b(?:company|registration|registered) (?:number|no)\b"
    r"|\b(?:\w+nummer|rechnung|invoice|order|bestell|auftrag|kunden|customer|ticket|vertrag|contract|angebot"
    r"|quote|referenz|reference|aktenzeichen|konto|account|ust|steuer|tax|serien|serial|artikel|charge"
    r"|vorgang|sendung|tracking|case|version|build|release)\w*)",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(r"[ \u00a0]?(?:€|%|\$|£|eur\b|euro|usd|gbp|chf|uhr\b|kg\b|km\b|stück|stk\b)", re.IGNORECASE)


def _phones(text: str) -> Iterator[tuple[int, int]]:
    position = 0
    while (match := _PHONE_CANDIDATE.search(text, position)) is not None:
        start = match.start()
        groups = list(_PHONE_GROUP.finditer(text, start, match.end()))
        found = None
        if not _glued_to_number(text, start) and not _DATE_START.match(text, start, match.end()):
            # the longest run of whole groups that reads as a phone number: "030 1234567 2 Nutzer"
            # is rare, "ab 01.03.2025 - 0171 2345678" (a date glued on by " - ") is not
            for last in reversed(groups):
                end = last.end()
                if _is_phone(text, start, end):
                    found = end
                    break
        if found is not None:
            yield start, found
            position = found
        else:
            # Try again after the first separator that is more than a space: in "01.03.2025 - 0171 2345678"
            # the phone number starts after " - ". Digit groups joined by single spaces stay one number
            # ("3704 0044 0532 0130 01", an IBAN with a typo), so no phone is carved out of them.
            position = match.end()
            for group, following in zip(groups, groups[1:], strict=False):
                if text[group.end() : following.start()].strip(" \u00a0\u202f"):
                    position = group.end()
                    break


def _glued_to_number(text: str, start: int) -> bool:
    """True when the candidate continues a number: "12.0171...", "3,0049...", "2024-0171..."."""
    return start >= 2 and text[start - 1] in ".,/-" and text[start - 2].isdigit()


def _is_phone(text: str, start: int, end: int) -> bool:
    candidate = text[start:end]
    after = text[end : end + 6]
    if after[:1].isalnum() or after[:1] == "_" or (after[:1] in ".," and after[1:2].isdigit()):
        return False
    if _UNIT_AFTER.match(after) or _THOUSANDS.fullmatch(candidate):
        return False
    digits = re.sub(r"\D", "", candidate.replace("(0)", ""))
    context = _phone_context(text, start)
    if candidate.startswith(("+", "00")):
        # international: country code + subscriber number, E.164 allows up to 15 digits
        national = digits[2:] if candidate.startswith("00") else digits
        if not national or national[0] == "0" or not 8 <= len(national) <= 15 or context is False:
            return False
        try:
            number = phonenumbers.parse("+" + national)
        except phonenumbers.NumberParseException:
            return False
        return phonenumbers.is_possible_number(number)
    if context is False:
        return False
    if candidate.startswith(("0", "(0")):
        # national with trunk prefix 0 (DE, AT, CH, UK, FR, NL): area code + subscriber; fewer than
        # nine digits is a postcode ("01067"), an article number or "0815" unless a word says phone
        return 9 <= len(digits) <= 13 or (context is True and 7 <= len(digits) <= 13)
    if _US_NATIONAL.fullmatch(candidate):
        return True
    # a bare local number ("555-0132", "1234567") only after a word that says it is a phone number
    return context is True and 7 <= len(digits) <= 12


def _phone_context(text: str, start: int) -> bool | None:
    """True after a phone word, False after an order/invoice/customer word, None when neither is there.

    Only the words since the previous digit count: in "Rechnung 2024-117, Tel. 0171 ..." the "Rechnung"
    belongs to the first number.
    """
    window = text[max(0, start - 40) : start]
    for index in range(len(window) - 1, -1, -1):
        if window[index].isdigit():
            window = window[index + 1 :]
            break
    phone_end = max((m.end() for m in _PHONE_WORDS.finditer(window)), default=-1)
    id_end = max((m.end() for m in _ID_WORDS.finditer(window)), default=-1)
    if phone_end < 0 and id_end < 0:
        return None
    return phone_end >= id_end


# --- IBANs ------------------------------------------------------------------------------------------

# ISO 13616 lengths per country (the registry's list, for the countries our customers bank in and their
# neighbours); an IBAN of an unlisted country is not detected rather than guessed at.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22,
    "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24,
    "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29,
}  # fmt: skip
_IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \u00a0]?[A-Za-z0-9]){11,30}")


def iban_is_valid(iban: str) -> bool:
    """The ISO 13616 check: country length, then the number with its first four characters moved to the end,
    letters as 10..35, is 1 modulo 97. Spaces are ignored."""
    compact = re.sub(r"\s", "", iban).upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    return bool(stdnum_iban.is_valid(compact, check_country=False))


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in _IBAN_CANDIDATE.finditer(text):
        length = _IBAN_LENGTHS.get(match.group(0)[:2].upper())
        if length is None:
            continue
        # the candidate may run on into the next word ("...3000 bitte"): take exactly `length`
        # characters, then insist that the IBAN ends at a word boundary
        count, end = 0, match.start()
        while count < length and end < match.end():
            if not text[end].isspace():
                count += 1
            end += 1
        if count < length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_is_valid(text[match.start() : end]):
            yield match.start(), end


# --- card numbers -----------------------------------------------------------------------------------

# 13-19 digits starting with a card network's first digit (2-6: Mastercard, Amex, Visa, Discover...),
# in groups separated by single spaces or dashes
_CARD_CANDIDATE = re.compile(r"(?<![\w+.,/-])[2-6]\d{0,5}(?:[ -]?\d{1,6}){2,9}(?![\w])")
_IBAN_PREFIX = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}[ \u00a0]\Z")


def luhn_is_valid(number: str) -> bool:
    """The Luhn checksum every payment card number carries (non-digits ignored)."""
    digits = "".join(char for char in number if char.isdigit())
    return bool(digits) and bool(stdnum_luhn.is_valid(digits))


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for match in _CARD_CANDIDATE.finditer(text):
        if text[match.end() : match.end() + 2][:1] in ".," and text[match.end() + 1 : match.end() + 2].isdigit():
            continue  # an amount: "4000 1234,50"
        start = match.start()
        if _IBAN_PREFIX.search(text, max(0, start - 5), start):
            continue  # the digits of an IBAN that failed its check: bank data, but not a card
        # the longest whole-group prefix of 13-19 digits that passes Luhn, preferring the 16 digits
        # nearly every card has, so an expiry date typed after it ("... 1111 12") is not swallowed
        candidates = []
        for group in _PHONE_GROUP.finditer(text, start, match.end()):
            digits = sum(char.isdigit() for char in text[start : group.end()])
            if 13 <= digits <= 19 and luhn_is_valid(text[start : group.end()]):
                candidates.append((digits == 16, group.end()))
        if candidates:
            yield start, max(candidates)[1]


# --- street addresses -------------------------------------------------------------------------------

_UPPER = "A-ZÄÖÜ"
_LOWER = "a-zäöüß"
_WORD = f"[{_UPPER}][{_LOWER}]+"
_DE_SUFFIX = "straße|strasse|str\\.|weg|gasse|allee|platz|ring|damm|ufer|chaussee|pfad|steig|stieg|graben|markt|kamp"
_DE_SEPARATE = "Straße|Strasse|Str\\.|Weg|Allee|Ring|Damm|Ufer|Chaussee|Gasse"
# "Am Markt 3" reads like "Am Montag 3": the prepositional form is taken only with a street-like
# noun, or when a postcode follows.
_DE_PREPOSITION = "Am|An der|An den|Auf dem|Auf der|Im|In der|In den|Zum|Zur|Unter den|Hinter der"
_DE_TIME_WORDS = (
    "Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag|Wochenende|Anfang|Ende|Morgen|Abend|Mittag"
    "|Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember|Tag|Termin"
)
_DE_HOUSE = r"\d{1,3}(?:[ ]?[a-zA-Z](?![\w]))?(?:[ ]?[-/][ ]?\d{1,3}[a-z]?)?"
_DE_POSTCODE_CITY = rf"(?:,[ ]?|[ ])(?:[A-Z]-)?\d{{4,5}}[ ]{_WORD}(?:-{_WORD}|[ ](?:am|an der|im|ob der) {_WORD})?"
_DE_ADDRESS = re.compile(
    rf"(?<![\w-])(?:"
    rf"{_WORD}(?:-[{_UPPER}]?[{_LOWER}]+)*(?:{_DE_SUFFIX})"  # Hauptstraße, Friedrichstr., Musterweg
    rf"|{_WORD}(?:-{_WORD})*-(?:{_DE_SEPARATE}|Platz)"  # Karl-Marx-Allee
    rf"|[{_UPPER}][{_LOWER}]+(?:er|e)[ ](?:{_DE_SEPARATE})"  # Berliner Straße, Lange Gasse
    rf"|(?:{_DE_PREPOSITION})[ ](?!(?:{_DE_TIME_WORDS})\b){_WORD}(?=[ ]{_DE_HOUSE}{_DE_POSTCODE_CITY})"
    rf"|(?:{_DE_PREPOSITION})[ ](?:Markt|Hafen|Bahnhof|Anger|Rathaus|Kirchberg|Stadtpark|Schlossberg|Marktplatz)"
    rf")[ ]{_DE_HOUSE}(?![\d%]|[.,]\d)(?:{_DE_POSTCODE_CITY})?"
)
_EN_SUFFIX = (
    "Street|St\\.|Avenue|Ave\\.|Road|Rd\\.|Boulevard|Blvd\\.|Lane|Drive|Parkway|Way|Court|Place|Square"
    "|Terrace|Close|Crescent|Row|Mews|Gardens|Highway"
)
_EN_ADDRESS = re.compile(
    rf"(?<![\w.,-])\d{{1,5}}[A-Z]?[ ](?:[A-Z][a-z]+[ ]){{1,3}}(?:{_EN_SUFFIX})(?![\w])"
    r"(?:,?[ ](?:Suite|Ste\.|Apt\.|Unit|Floor)[ ]\w+)?"
    # the city only together with what proves it is one: a US state and ZIP, or a UK postcode
    r"(?:,[ ](?:[A-Z][a-z]+[ ]){0,2}[A-Z][a-z]+,[ ][A-Z]{2}[ ]\d{5}(?:-\d{4})?"
    r"|,[ ](?:[A-Z][a-z]+[ ]){1,2}[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2}(?![\w]))?"
)


def _addresses(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_DE_ADDRESS, _EN_ADDRESS):
        for match in pattern.finditer(text):
            yield match.span()


_DETECTORS = {"email": _emails, "phone": _phones, "iban": _ibans, "card": _cards, "address": _addresses}

"""Demo data: one realistic sales organisation, deterministic for a seed.

`load_demo` writes it with COPY in one transaction (100,000 leads with a million activities in well
under two minutes); `seed_sql` renders the same generator as INSERT statements for
`supabase/seed.sql`. Ids come from `random.Random` streams and timestamps are relative to the fixed
`ANCHOR`, never to the clock, so one seed and organisation name give the same rows in any database.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from salesflow.demo_texts import (
    ACT,
    BY_ADMIN,
    BY_REP,
    CALL_OUTCOMES,
    CAMPAIGNS,
    CITIES,
    COMPETITORS,
    CONV,
    COUNTRIES,
    DACH,
    DEAL_STAGES,
    EMAIL_OUTCOMES,
    EVENTS,
    FREEMAIL,
    FX,
    INDUSTRIES,
    KINDS,
    LEGAL,
    LOST_REASONS,
    MEETING_OUTCOMES,
    NAMES,
    PACKAGES,
    PHONE,
    PINNED,
    PROBABILITY,
    QUARTERS,
    REP_CUTS,
    ROLES,
    ROOTS,
    SOURCES,
    STAFF,
    STAGE_PROFILE,
    STAGES,
    SUBJECTS,
    SYSTEMS,
    TITLES_DE,
    TITLES_EN,
    TLD,
    TOPIC_TEXT,
    TOPICS,
)

# "Now" for the demo: every timestamp is placed relative to it.
ANCHOR = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
DEFAULT_ORG_NAME = "Nordwind Demo GmbH"
MIN_LEADS = 10  # the first ten leads are pinned so that every stage and both languages appear
MAX_CONVERSATIONS = 20_000  # message threads cost the most per row to compose; big loads cap them
_NAMESPACE = uuid.UUID("6f1c1d52-8a0e-4d3e-9b7a-5e0f3c2a9d41")
_A = int(ANCHOR.timestamp())
_DAY = 86_400

# Load order (foreign keys first) and the columns each table is written with.
TABLES: dict[str, tuple[str, ...]] = {
    "organizations": ("id", "name", "slug", "settings", "created_at"),
    "org_members": ("org_id", "user_id", "role", "display_name", "email", "created_at"),
    "companies": ("org_id", "id", "name", "domain", "industry", "employee_count", "country", "attributes",
                  "created_at", "updated_at"),
    "leads": ("org_id", "id", "company_id", "owner_id", "first_name", "last_name", "email", "phone", "title",
              "source", "lifecycle_stage", "language", "attributes", "created_at", "updated_at",
              "last_activity_at"),
    "deals": ("org_id", "id", "lead_id", "company_id", "owner_id", "name", "stage", "amount", "currency",
              "expected_close", "closed_at", "lost_reason", "attributes", "created_at", "updated_at"),
    "activities": ("org_id", "id", "lead_id", "deal_id", "owner_id", "kind", "direction", "subject", "body",
                   "outcome", "occurred_at", "due_at", "completed_at", "created_at"),
    "messages": ("org_id", "id", "lead_id", "channel", "direction", "subject", "body", "language",
                 "external_id", "sent_at", "created_at"),
    "channel_identities": ("org_id", "channel", "address", "lead_id", "verified", "created_at"),
}
# The two big tables go in binary: a third fewer bytes to send and parse than text. Enum labels are
# sent as text, which is also their binary form.
_BINARY_TYPES = {
    "activities": ("uuid", "uuid", "uuid", "uuid", "uuid", "text", "text", "text", "text", "text",
                   "timestamptz", "timestamptz", "timestamptz", "timestamptz"),
    "messages": ("uuid", "uuid", "uuid", "text", "text", "text", "text", "text", "text", "timestamptz",
                 "timestamptz"),
}
# Per-row triggers that would update the lead once per activity; the generator sets last_activity_at.
_BUMP_TRIGGERS = (("activities", "activities_bump_lead"), ("messages", "messages_bump_lead"))


@dataclass(frozen=True)
class DemoUser:
    """A member of the demo organisation (no auth account exists for it; sign in as its user_id)."""

    user_id: uuid.UUID
    role: str
    display_name: str
    email: str


@dataclass(frozen=True)
class DemoResult:
    """What load_demo wrote."""

    org_id: uuid.UUID
    org_name: str
    users: list[DemoUser]
    counts: dict[str, int]  # table name -> rows written


_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ı": "i",
                           "ç": "c", "ø": "o", "å": "a"})


def _ascii(text: str) -> str:
    """Lower-case ASCII for addresses: umlauts transliterated, everything but [a-z0-9-] dropped."""
    return re.sub(r"[^a-z0-9-]", "", text.lower().translate(_TRANSLIT))


def _slug(name: str) -> str:
    """A slug as api.create_organization derives one, but with umlauts spelt out and no random tail."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower().translate(_TRANSLIT)).strip("-")[:40].strip("-")


def _ts(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _workday(t: int, lo: int, hi: int) -> int:
    """Move t into office hours (06:00-16:30 UTC) on a weekday, then clamp it to [lo, hi]."""
    day, sec = divmod(t, _DAY)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 is Monday
    day += -1 if weekday == 5 else 1 if weekday == 6 else 0
    t = day * _DAY + 21_600 + sec * 37_800 // _DAY
    return lo if t < lo else hi if t > hi else t


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Integer parts of total proportional to weights, summing to exactly total."""
    whole, acc, prev, parts = sum(weights), 0.0, 0, []
    for i, weight in enumerate(weights):
        acc += weight
        cur = total if i == len(weights) - 1 else min(total, int(total * acc / whole))
        parts.append(cur - prev)
        prev = cur
    return parts


class _Demo:
    """The generator. tables() yields (table, rows) in load order; consume each before the next."""

    def __init__(self, *, leads: int, seed: int, activities_per_lead: float, org_name: str | None) -> None:
        if isinstance(leads, bool) or not isinstance(leads, int) or leads < MIN_LEADS:
            raise ValueError(f"leads must be an integer of at least {MIN_LEADS}, got {leads!r}")
        if not math.isfinite(activities_per_lead) or activities_per_lead < 0:
            raise ValueError(f"activities_per_lead must be a number >= 0, got {activities_per_lead!r}")
        self.org_name = (DEFAULT_ORG_NAME if org_name is None else org_name).strip()
        self.slug = _slug(self.org_name)
        if len(self.org_name) > 200 or not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", self.slug):
            raise ValueError(f"org_name {self.org_name!r} needs at most 200 characters, two of them letters "
                             "or digits")
        self.seed, self.n_leads = seed, leads
        self.n_activities = round(leads * activities_per_lead)
        # Contents follow the seed alone; ids follow seed and organisation, so two demo orgs can coexist.
        self.r = random.Random(seed)
        self._ids = random.Random(f"salesflow-demo:{seed}:{self.slug}")
        self.org_id = uuid.uuid5(_NAMESPACE, f"{seed}:{self.slug}")
        self.org_domain = f"{self.slug}.example"
        self.product = self.org_name.split()[0]
        self.users: list[DemoUser] = []

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self._ids.getrandbits(128), version=4)

    def hexid(self, digits: int) -> str:
        return f"{self._ids.getrandbits(4 * digits):0{digits}x}"

    def tables(self) -> Iterator[tuple[str, Iterable[tuple]]]:
        settings = json.dumps({"demo": True, "seed": self.seed, "default_currency": "EUR", "locale": "de-DE"})
        yield "organizations", [(self.org_id, self.org_name, self.slug, settings, _ts(_A - 600 * _DAY))]
        yield "org_members", self._members()
        yield "companies", self._companies()
        yield "leads", self._leads()  # also composes deals, messages and channel identities
        yield "deals", self.deals
        yield "activities", self._activities()
        yield "messages", self.messages
        yield "channel_identities", self.identities

    def _members(self) -> list[tuple]:
        staff = list(STAFF)
        self.r.shuffle(staff)
        rows, self.reps, self.staff = [], [], {}
        for k, role in enumerate(ROLES):
            first, last, gender = staff[k]
            email = f"{_ascii(first)}.{_ascii(last)}@{self.org_domain}"
            user = DemoUser(self.uid(), role, f"{first} {last}", email)
            self.users.append(user)
            self.staff[user.user_id] = {"first": first, "last": last, "female": gender == "f",
                                        "name": user.display_name, "company": self.org_name}
            if role == "rep":
                self.reps.append(user.user_id)
            joined = _ts(_A - (600 - k) * _DAY)
            rows.append((self.org_id, user.user_id, role, user.display_name, email, joined))
        self.admin = self.users[1].user_id
        return rows

    def _companies(self) -> list[tuple]:
        r, rows, seen = self.r, [], set()
        self.companies = []
        for _ in range(max(5, self.n_leads // 8)):
            country = r.choice(COUNTRIES)
            group = "de" if country in DACH else "nl" if country == "NL" else "en"
            industry, de_words, en_words = r.choice(INDUSTRIES)
            root, word = r.choice(ROOTS[group]), r.choice(de_words if group == "de" else en_words)
            base = f"{root} {word}"
            domain = f"{_ascii(base.replace(' ', '-'))}.{TLD[country]}"
            for attempt in itertools.count(1):  # a taken domain gets a city, later also a number
                if domain not in seen:
                    break
                base = f"{root} {word} {r.choice(CITIES[country])}"
                domain = f"{_ascii(base.replace(' ', '-'))}{attempt // 8 or ''}.{TLD[country]}"
            seen.add(domain)
            employees = int(min(80_000, max(3, r.lognormvariate(math.log(120), 1.4))))
            segment = "SMB" if employees < 50 else "Mid-Market" if employees < 1000 else "Enterprise"
            attributes = {"hq_city": r.choice(CITIES[country]), "segment": segment,
                          "annual_revenue_keur": int(employees * r.uniform(90, 260))}
            created = _A - (560 - r.randrange(10)) * _DAY
            company_id, name = self.uid(), f"{base} {r.choice(LEGAL[country])}"
            self.companies.append((company_id, name, domain, country))
            rows.append((self.org_id, company_id, name, domain, industry, employees, country,
                         json.dumps(attributes, ensure_ascii=False), _ts(created),
                         _ts(created + r.randrange(90) * _DAY)))
        return rows

    def _leads(self) -> list[tuple]:
        r = self.r
        pinned = [*PINNED, *((r.choice(STAGES), None, None) for _ in range(self.n_leads - len(PINNED)))]
        # activities per lead follow the stage, with jitter; the total is exactly leads * activities_per_lead
        counts = _allocate(self.n_activities, [STAGE_PROFILE[p[0]][0] * r.uniform(0.3, 1.7) for p in pinned])
        self.deals, self.messages, self.identities, self.plans = [], [], [], []
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.threads = 0
        return [self._lead(*p, n) for p, n in zip(pinned, counts, strict=True)]

    def _lead(self, stage: str, deal_stage: str | None, pinned_lang: str | None, n_act: int) -> tuple:
        r = self.r
        company = r.choice(self.companies) if r.random() < 0.96 else None
        country = company[3] if company else "DE"
        lang = pinned_lang or ("de" if country in DACH and r.random() < 0.75 else "en")
        names = NAMES["nl" if country == "NL" else lang if country in DACH else "en"]
        female = r.random() < 0.45
        first, last = r.choice(names[0] if female else names[1]), r.choice(names[2])
        email = self._email(first, last, company[2] if company else r.choice(FREEMAIL[lang]))
        phone = self._phone(country) if r.random() < 0.75 else None
        title = r.choice(TITLES_DE)[female] if lang == "de" else r.choice(TITLES_EN)
        source = r.choice(SOURCES)
        u = r.random()
        owner = (self.reps[sum(u > cut for cut in REP_CUTS)] if u < BY_REP
                 else self.admin if u < BY_REP + BY_ADMIN else None)
        created = _workday(_A - int(548 * _DAY * r.random() ** 1.25), _A - 548 * _DAY, _A - 2 * _DAY)
        role = r.choice(("decision_maker", "influencer", "champion", "user"))
        attributes: dict[str, object] = {"decision_role": role}
        if stage not in ("subscriber", "lead"):
            attributes["budget_range"] = r.choice(("<10k", "10k-50k", "50k-100k", ">100k"))
        if source == "event":
            attributes["event"] = r.choice(EVENTS)
        elif source == "paid_ads":
            attributes["utm_campaign"] = r.choice(CAMPAIGNS)
        if stage == "subscriber":
            attributes["newsletter_opt_in"] = True
        lead_id = self.uid()
        _, deal_share, thread_share, window = STAGE_PROFILE[stage]
        # what the texts about this lead may mention; weekday, time and subject change per text
        ctx = {"first": first, "last": last, "company": company[1] if company else "–", "title": title,
               "system": r.choice(SYSTEMS), "competitor": r.choice(COMPETITORS),
               "quarter": r.choice(QUARTERS), "seats": r.choice((5, 8, 12, 15, 20, 25, 40, 60, 120)),
               "weekday": "", "time": "", "subject": ""}
        last_act = None
        if n_act:
            t = created + 3600 + int((_A - created - 3600) * (window + (1 - window) * r.random()))
            last_act = _workday(t, created + 3600, _A)
        deal = None
        if deal_stage or (stage in DEAL_STAGES and r.random() < deal_share):
            deal = self._deal(lead_id, company, owner, deal_stage or r.choice(DEAL_STAGES[stage]), created,
                              lang, ctx)
        last_msg = None
        if pinned_lang or (self.threads < MAX_CONVERSATIONS and r.random() < thread_share):
            last_msg = self._conversation(lead_id, lang, email, phone, owner, female, created, ctx)
        self.plans.append((lead_id, created, last_act, n_act, owner, lang, ctx, deal))
        touched = max((t for t in (last_act, last_msg) if t is not None), default=None)
        updated = created + int(((touched or created) - created) * r.random())
        return (self.org_id, lead_id, company and company[0], owner, first, last, email, phone, title,
                source, stage, lang, json.dumps(attributes, ensure_ascii=False), _ts(created), _ts(updated),
                None if touched is None else _ts(touched))

    def _email(self, first: str, last: str, domain: str) -> str:
        f, l_ = _ascii(first), _ascii(last)
        firsts = (f"{f}.{l_}", f"{f[0]}.{l_}", f"{f}{l_}")
        for local in itertools.chain(firsts, (f"{f}.{l_}{k}" for k in itertools.count(2))):
            address = f"{local}@{domain}"
            if address not in self.emails:  # unique per organisation (leads_email_key)
                self.emails.add(address)
                return address
        raise AssertionError("unreachable")

    def _phone(self, country: str) -> str:
        code, prefixes, digits = PHONE[country]
        while True:  # unique, so that WhatsApp identities never collide
            number = f"{code}{self.r.choice(prefixes)}{self.r.randrange(10 ** (digits - 1), 10 ** digits)}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def _deal(self, lead_id: uuid.UUID, company: tuple | None, owner: uuid.UUID | None, stage: str,
              created: int, lang: str, ctx: dict) -> tuple[uuid.UUID, int]:
        r = self.r
        country = company[3] if company else "DE"
        currency = {"CH": "CHF", "GB": "GBP", "US": "USD"}.get(country, "EUR") if r.random() < 0.8 else "EUR"
        package, per_seat = r.choice(PACKAGES)
        eur = min(5_000_000, max(1_200, r.lognormvariate(math.log(24_000), 0.9)))  # annual contract value
        seats = max(3, round(eur / (per_seat * 12)))
        amount = Decimal(int(eur * FX[currency] / 10) * 10).quantize(Decimal("0.01"))
        closed_at = lost_reason = None
        if stage in ("closed_won", "closed_lost"):
            opened = _workday(created + int((_A - created) * r.uniform(0.1, 0.5)), created + 3600, _A)
            closed_at = _workday(opened + int((_A - opened) * r.uniform(0.2, 1.0)), opened + 60, _A)
            expected = _ts(closed_at).date() + timedelta(days=r.randint(-10, 20))
            if stage == "closed_lost":
                lost_reason = r.choice(LOST_REASONS[lang]).format_map(ctx)
        else:  # an open deal is recent and mostly expected to close ahead; a few are overdue
            opened = _workday(max(created + 3600, _A - r.randint(7, 200) * _DAY), created + 3600, _A)
            expected = ANCHOR.date() + timedelta(days=r.randint(-30, 150))
        deal_id = self.uid()
        label = ctx["company"] if company else f"{ctx['first']} {ctx['last']}"
        name = f"{label} – {self.product} {package} ({seats} {'Nutzer' if lang == 'de' else 'users'})"
        attributes = json.dumps({"package": package, "seats": seats, "probability": PROBABILITY[stage]})
        closed = None if closed_at is None else _ts(closed_at)
        self.deals.append((self.org_id, deal_id, lead_id, company and company[0], owner or self.reps[0], name,
                           stage, amount, currency, expected, closed, lost_reason, attributes, _ts(opened),
                           closed or _ts(opened)))
        return deal_id, opened

    def _conversation(self, lead_id: uuid.UUID, lang: str, email: str, phone: str | None,
                      owner: uuid.UUID | None, female: bool, created: int, ctx: dict) -> int:
        """Append one thread of 2-8 messages (and the lead's channel identities); return its last sent_at."""
        r, texts = self.r, CONV[lang]
        self.threads += 1
        u = r.random()
        channel = "whatsapp" if u < 0.3 and phone else "linkedin" if 0.3 <= u < 0.45 else "email"
        mail = channel == "email"
        topic = r.choice(TOPICS)
        rep = self.staff[owner or r.choice(self.reps)]
        lead = {"first": ctx["first"], "last": ctx["last"], "female": female, "company": ctx["company"],
                "name": f"{ctx['first']} {ctx['last']}"}
        # each side greets and signs the same way throughout the thread
        hello, bye = texts["hello_mail" if mail else "hello_chat"], texts["bye_mail" if mail else "bye_chat"]
        style = {side: (r.choice(hello), r.choice(bye)) for side in ("lead", "rep")}
        package, per_seat = r.choice(PACKAGES)
        price = f"{ctx['seats'] * per_seat:,}".replace(",", "." if lang == "de" else ",")
        fmt = {**ctx, "product": self.product, "package": f"{self.product} {package}",
               "price": f"{price} €" if lang == "de" else f"€{price}"}
        subject = SUBJECTS[topic][lang == "en"].format_map(fmt)
        n = r.randint(2, 8)
        mean_gap = {"email": 8 * 3600, "whatsapp": 5400, "linkedin": _DAY}[channel]
        gaps = [60 + int(r.expovariate(1 / mean_gap)) for _ in range(n - 1)]
        room = _A - created - 3600
        if sum(gaps) > room * 0.8:  # a young lead: squeeze the thread into its lifetime
            gaps = [max(60, g * int(room * 0.8) // sum(gaps)) for g in gaps]
        t = _workday(created + 3600 + int(r.random() * (room - sum(gaps))), created + 3600, _A - sum(gaps))
        side = "lead" if r.random() < 0.5 else "rep"
        used: set[str] = set()
        for i in range(n):
            fmt["weekday"], fmt["time"] = r.choice(ACT[lang]["weekday"]), r.choice(ACT[lang]["time"])
            if i == 0:
                pool = TOPIC_TEXT[topic, lang, side, "open"]
            elif i == n - 1 and n > 2:
                pool = texts[f"{side}_close"]
            else:  # the topic's answers first, then lines any thread may need; never a line twice
                fresh = [x for x in TOPIC_TEXT[topic, lang, side, "reply"] if x not in used]
                fresh = fresh or [x for x in texts[f"{side}_more"] if x not in used]
                pool = fresh or texts[f"{side}_close"]
            line = r.choice(pool)
            used.add(line)
            parts = [line]
            if side == "rep" and i < n - 1 and r.random() < 0.5:
                parts.append(r.choice(texts["cta"]))
            to, sender = (rep, lead) if side == "lead" else (lead, rep)
            greeting = style[side][0].format(salutation=texts["salutation"][to["female"]], **to)
            body = " ".join(p[0].upper() + p[1:] if k else p for k, p in enumerate(parts)).format_map(fmt)
            sep = "\n\n" if mail else "\n"
            body = sep.join(p for p in (greeting, body, style[side][1].format(**sender)) if p)
            if channel == "email":
                domain = email.split("@")[1] if side == "lead" else self.org_domain
                external = f"<{self.hexid(24)}@mail.{domain}>"
            elif channel == "whatsapp":
                external = f"wamid.HBgN{self.hexid(32).upper()}"
            else:
                external = f"urn:li:msg_message:{self.hexid(20)}"
            direction = "inbound" if side == "lead" else "outbound"
            title = (texts["reply"] if i else "") + subject if mail else None
            self.messages.append((self.org_id, self.uid(), lead_id, channel, direction, title, body, lang,
                                  external, _ts(t), _ts(t)))
            if i < n - 1:
                t += gaps[i]
            side = "rep" if side == "lead" else "lead"
        # the address the lead wrote from, verified by their answer; their email is known in any case
        if channel == "linkedin":
            address = f"linkedin.com/in/{_ascii(ctx['first'])}-{_ascii(ctx['last'])}-{self.hexid(6)}"
        else:
            address = email if mail else phone
        self.identities.append((self.org_id, channel, address, lead_id, True, _ts(created)))
        if not mail:
            self.identities.append((self.org_id, "email", email, lead_id, False, _ts(created)))
        return t

    def _activities(self) -> Iterator[tuple]:
        r, org, reps = self.r, self.org_id, self.reps
        kinds, n_kinds, n_calls, n_meetings = KINDS, len(KINDS), len(CALL_OUTCOMES), len(MEETING_OUTCOMES)
        for lead_id, created, last_act, n_act, owner, lang, ctx, deal in self.plans:
            texts = ACT[lang]
            details, weekdays, times, note = texts["detail"], texts["weekday"], texts["time"], texts["note"]
            span = last_act - created if n_act else 0
            for k in range(n_act):
                # the first one is the lead's last touch; the others fall between creation and it
                t = _workday(created + 60 + int(r.random() * span), created + 60, last_act) if k else last_act
                kind = kinds[int(r.random() * n_kinds)]
                ctx["weekday"] = weekdays[int(r.random() * len(weekdays))]
                ctx["time"] = times[int(r.random() * len(times))]
                detail = details[int(r.random() * len(details))].format_map(ctx)
                direction = outcome = subject = due = done = None
                if kind == "note":
                    body = r.choice(note).format(detail=detail, **ctx)
                else:
                    ctx["subject"] = subject = r.choice(texts[kind]).format_map(ctx)
                if kind == "call":
                    direction = "outbound" if r.random() < 0.85 else "inbound"
                    outcome = CALL_OUTCOMES[int(r.random() * n_calls)]
                    body = r.choice(texts[outcome]).format(detail=detail, **ctx)
                    done = min(_A, t + 60 + int(r.random() * 1800))
                elif kind == "email":
                    direction = "outbound" if r.random() < 0.7 else "inbound"
                    outcome = r.choice(EMAIL_OUTCOMES) if direction == "outbound" else "received"
                    body = r.choice(texts[direction]).format(detail=detail, **ctx)
                    done = t
                elif kind == "meeting":
                    direction = "outbound" if r.random() < 0.7 else "inbound"
                    outcome = MEETING_OUTCOMES[int(r.random() * n_meetings)]
                    body = r.choice(texts[outcome]).format(detail=detail, **ctx)
                    done = min(_A, t + 1800 + 900 * r.randrange(4)) if outcome == "completed" else None
                elif kind == "task":  # due within two weeks; most past ones were done, recent ones are open
                    due = t + (1 + r.randrange(14)) * _DAY
                    body = r.choice(texts["task_body"]).format_map(ctx) or None
                    if due < _A - _DAY and r.random() < 0.85:
                        done = _workday(t + int((due + _DAY - t) * r.random()), t, _A)
                        outcome = "done"
                deal_id = deal[0] if deal and t >= deal[1] and r.random() < 0.7 else None
                yield (org, self.uid(), lead_id, deal_id, owner or reps[int(r.random() * 4)], kind, direction,
                       subject, body, outcome, _ts(t), None if due is None else _ts(due),
                       None if done is None else _ts(done), _ts(t))


def load_demo(
    conn: psycopg.Connection,
    *,
    leads: int = 2000,
    seed: int = 42,
    activities_per_lead: float = 10.0,
    org_name: str | None = None,
) -> DemoResult:
    """Write one demo organisation: members, companies, leads, deals, activities, messages, identities.

    All of it goes in with COPY in one transaction (a savepoint if `conn` is already in one). The
    per-row last_activity_at triggers are off meanwhile, since the generator sets that column itself;
    switching them off locks activities and messages until the load commits. The same seed and
    org_name give identical rows in any database. Raises ValueError if the organisation's slug exists.
    """
    demo = _Demo(leads=leads, seed=seed, activities_per_lead=activities_per_lead, org_name=org_name)
    taken = (f"an organisation with slug {demo.slug!r} already exists; pass another org_name or delete "
             "that organisation first")
    counts: dict[str, int] = {}
    try:
        with conn.transaction(), conn.cursor() as cur:
            if cur.execute("select 1 from salesflow.organizations where slug = %s", (demo.slug,)).fetchone():
                raise ValueError(taken)
            _switch_triggers(cur, "disable")
            for table, rows in demo.tables():
                binary = table in _BINARY_TYPES
                columns = sql.SQL(", ").join(map(sql.Identifier, TABLES[table]))
                options = sql.SQL(" (format binary)" if binary else "")
                statement = sql.SQL("copy {} ({}) from stdin{}").format(
                    sql.Identifier("salesflow", table), columns, options)
                n = 0
                # the queued writer sends from a thread, so composing rows and sending them overlap
                with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
                    if binary:
                        copy.set_types(list(_BINARY_TYPES[table]))
                    for row in rows:
                        copy.write_row(row)
                        n += 1
                counts[table] = n
            _switch_triggers(cur, "enable")
    except psycopg.errors.UniqueViolation as exc:  # another session took the slug after we looked
        if exc.diag.constraint_name == "organizations_slug_key":
            raise ValueError(taken) from exc
        raise
    return DemoResult(demo.org_id, demo.org_name, list(demo.users), counts)


def _switch_triggers(cur: psycopg.Cursor, action: str) -> None:
    for table, trigger in _BUMP_TRIGGERS:
        cur.execute(sql.SQL("alter table {} {} trigger {}").format(
            sql.Identifier("salesflow", table), sql.SQL(action), sql.Identifier(trigger)))


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return f"'{value.isoformat()}'"
    if isinstance(value, uuid.UUID | str):
        return "'" + str(value).replace("'", "''") + "'"  # standard_conforming_strings: only quotes double
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def seed_sql(*, leads: int = 25, seed: int = 7) -> str:
    """The demo organisation (default name, 10 activities per lead) as INSERT statements for psql.

    The same generator as `load_demo(conn, leads=leads, seed=seed)`, so both give the same rows. The
    text is deterministic: regenerate supabase/seed.sql with it and diff.
    """
    demo = _Demo(leads=leads, seed=seed, activities_per_lead=10.0, org_name=None)
    out = [f"-- SalesFlow demo data, generated by salesflow.demo.seed_sql(leads={leads}, seed={seed}).",
           "-- Needs a migrated database. last_activity_at is set here, so the bump triggers change nothing.",
           "begin;"]
    for table, rows in demo.tables():
        head = f"insert into salesflow.{table} ({', '.join(TABLES[table])}) values\n"
        values = ["    (" + ", ".join(map(_literal, row)) + ")" for row in rows]
        for start in range(0, len(values), 200):
            out.append(head + ",\n".join(values[start:start + 200]) + ";")
    out.append("commit;\n")
    return "\n\n".join(out)

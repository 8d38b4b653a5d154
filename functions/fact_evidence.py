"""Evidence for extracted memory facts, and the offline rules that find facts on their own.

A model's fact is a sentence of its own ("The lead's budget is 40,000 EUR"); it is stored only with a
quote from the message that states it. `cite` looks for that message and sentence: the sentence must
hold every number of the fact and at least half of its content words (German and English stop words
and the words models use to paraphrase aside, compared by their first five letters so that
inflections meet). A fact that no sentence supports is refused, whatever confidence the model gave it.

`rule_facts` is the deterministic offline baseline (labelled `RULES_VERSION`): patterns in English and
German for budgets with an amount, deadlines, the tools in use, roles, pain points and objections.
It finds what is said in so many words and nothing else; it does not understand negation ("we do not
use Salesforce" is still a tool in use) and knows no synonyms.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

RULES_VERSION = "rules:salesflow-facts-1"
RULES_CONFIDENCE = 0.6  # a pattern matched the words; nothing checked what they mean
QUOTE_MAX = 500

# the memory_extraction prompt's categories -> salesflow.fact_category
CATEGORIES = {"preference": "preference", "stakeholder": "role", "budget": "budget", "timeline": "timeline",
              "pain": "pain_point", "competitor": "competitor", "relationship": "other", "other": "other"}
# one current fact per lead: a later one replaces the earlier; other categories hold many facts
SINGLE_VALUED = {"budget", "timeline"}

_STOP = frozenset("""
a an the and or but if of to in on at by for with from as is are was were be been being it its this that these
those there here he she they them their his her him we our us you your i me my not no so than then also very
has have had do does did will would can could should may might must shall about into over under after before
lead customer client contact company team person wants want wanted prefers prefer preferred mentioned said says
stated states asked asks interested would like likes currently
der die das den dem des ein eine einen einem einer eines und oder aber wenn von zu im in am an auf bei mit
aus als ist sind war waren sein es sie er wir ihr ich mich mir uns euch ihnen ihre ihren ihrem sein seine nicht
kein keine so auch sehr hat haben hatte wird werden kann können soll sollte muss über nach vor für um noch
möchte möchten will wollen kunde kundin firma unternehmen
""".split())
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d(?:[\d.,]*\d)?")
_SPLIT = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


@dataclass(frozen=True)
class Source:
    """A message the extractor read."""

    id: UUID
    text: str


@dataclass(frozen=True)
class Fact:
    """A fact ready for salesflow.record_extracted_fact."""

    category: str  # a salesflow.fact_category value
    fact: str
    fact_key: str
    message_id: UUID
    quote: str
    confidence: float


def sentences(text: str) -> Iterator[str]:
    for piece in _SPLIT.split(text):
        piece = piece.strip()
        if len(piece) >= 3:
            yield piece[:QUOTE_MAX]


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP and (len(w) >= 3 or w.isdigit())}


def _numbers(text: str) -> set[str]:
    return {re.sub(r"[.,]", "", n) for n in _NUMBER.findall(text)}


def fact_key(category: str, fact: str) -> str:
    if category in SINGLE_VALUED:
        return category
    words = " ".join(sorted(_stems(fact)))
    return f"{category}_{hashlib.sha1(words.encode()).hexdigest()[:10]}"


def cite(fact: str, sources: Sequence[Source]) -> tuple[Source, str, float] | None:
    """The message and sentence that best support `fact`, with the share of its words they hold; or None."""
    words, numbers = _stems(fact), _numbers(fact)
    if not words:
        return None
    need = max(1, math.ceil(len(words) / 2))
    best: tuple[Source, str, float] | None = None
    for source in sources:
        for sentence in sentences(source.text):
            if not numbers <= _numbers(sentence):
                continue
            hits = len(words & _stems(sentence))
            if hits >= need and (best is None or hits / len(words) > best[2]):
                best = (source, sentence, hits / len(words))
    return best


def model_facts(answer: object, sources: Sequence[Source]) -> tuple[list[Fact], int]:
    """The facts of a memory_extraction answer that a message supports, and how many were refused."""
    items = answer.get("facts", []) if isinstance(answer, dict) else []
    found: list[Fact] = []
    refused = 0
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("fact"), str) or not item["fact"].strip():
            refused += 1
            continue
        category = CATEGORIES.get(str(item.get("category")), "other")
        cited = cite(item["fact"], sources)
        if cited is None:
            refused += 1
            continue
        source, quote, support = cited
        confidence = item.get("confidence")
        confidence = float(confidence) if isinstance(confidence, int | float) else 0.5
        text = " ".join(item["fact"].split())[:1000]
        found.append(Fact(category, text, fact_key(category, text), source.id, quote,
                          round(min(max(confidence, 0.0), 1.0, support), 3)))
    return found, refused


# -- the offline rules ----------------------------------------------------------------------------
_AMOUNT = (r"(?:[€$£]\s?\d[\d.,]*\s?(?:k|tsd\.?|mio\.?)?|\d[\d.,]*\s?(?:k|tsd\.?|mio\.?|tausend|thousand|million)?"
           r"\s?(?:€|eur\b|euro\b|euros\b|usd\b|chf\b|dollars?\b))")
_BUDGET_WORD = re.compile(r"(?i)\b(?:budget\w*|preis\w*|price\w*|kosten|cost\w*|spend\w*|ausgeben|invest\w*|"
                          r"höchstens|up to|bis zu|maximal|approved|freigegeben|genehmigt)")
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "januar|februar|märz|mai|juni|juli|oktober|dezember")
_TIMELINE = re.compile(
    r"(?i)\b(?:by|until|before|within|bis|vor|innerhalb|spätestens|latest)\s+(?:the\s+|zum\s+|ende\s+|end\s+of\s+)?"
    rf"(?:(?:{_MONTHS})\b(?:\s+\d{{4}})?|q[1-4](?:\s+\d{{4}})?\b|\d{{1,2}}\.\s?\d{{1,2}}\.(?:\d{{2,4}})?|"
    r"next\s+(?:week|month|quarter|year)\b|nächste[nmrs]?\s+(?:woche|monats?|quartals?|jahr(?:es)?)\b|"
    r"\d+\s+(?:weeks|months|wochen|monaten)\b)")
_TOOL = re.compile(
    r"(?i:\b(?:we\s+(?:currently\s+|still\s+)?use|we(?:'re|\s+are)\s+(?:currently\s+|still\s+)?using|"
    r"currently\s+using|we\s+work\s+with|wir\s+(?:nutzen|verwenden|arbeiten\s+mit|setzen)|"
    r"(?:derzeit|aktuell|momentan|bisher)\s+(?:nutzen|verwenden)\s+wir))\s+"
    r"(?i:(?:derzeit|aktuell|noch|bisher|momentan|currently|still)\s+)?"
    r"([A-Z][\w.&+-]*(?:\s[A-Z][\w.&+-]*)?)")
_ROLE = re.compile(
    r"(?i)\b(?:i\s+am|i'm|ich\s+bin)\s+(?:the\s+|die\s+|der\s+|als\s+)?"
    r"(ceo|cto|cfo|coo|founder|owner|head\s+of\s+\w+|vp\s+of\s+\w+|\w*director|\w*manager|\w*leiter(?:in)?|"
    r"geschäftsführer(?:in)?|einkäufer(?:in)?|inhaber(?:in)?|gründer(?:in)?|procurement\s+lead|buyer)\b")
_PAIN = re.compile(r"(?i)\b(?:problem\w*|issues?|struggl\w*|bottleneck\w*|too\s+slow|takes\s+too\s+long|"
                   r"frustrat\w*|schwierig\w*|engpass\w*|dauert\s+zu\s+lange|zu\s+langsam|ärger\w*|ausf[aä]ll\w*|"
                   r"downtime|fehler\w*|errors?)\b")
_OBJECTION = re.compile(r"(?i)\b(?:too\s+expensive|zu\s+teuer|not\s+the\s+right\s+time|no\s+budget|kein\s+budget|"
                        r"kein(?:en)?\s+bedarf|not\s+interested|kein\s+interesse|need\s+to\s+think|"
                        r"müssen\s+(?:das\s+)?(?:noch\s+)?überlegen|price\s+is\s+too\s+high|"
                        r"preis\s+ist\s+zu\s+hoch)\b")


def _rule_hits(sentence: str) -> Iterator[tuple[str, str]]:
    amount = re.search(_AMOUNT, sentence, re.IGNORECASE)
    if amount and _BUDGET_WORD.search(sentence):
        yield "budget", f"Budget or price named: {amount.group(0).strip()}"
    if m := _TIMELINE.search(sentence):
        yield "timeline", f"Timeline named: {m.group(0).strip()}"
    if m := _TOOL.search(sentence):
        yield "competitor", f"Uses {m.group(1).strip().rstrip('.,;:!?')} today"
    if m := _ROLE.search(sentence):
        yield "role", f"Role: {' '.join(m.group(1).split())}"
    if _OBJECTION.search(sentence):
        yield "objection", f"Objection: {sentence[:200]}"
    elif _PAIN.search(sentence):
        yield "pain_point", f"Pain point: {sentence[:200]}"


def rule_facts(sources: Iterable[Source]) -> list[Fact]:
    """The facts the offline patterns find, each quoting its sentence; the latest wins per key."""
    found: dict[str, Fact] = {}
    for source in sources:  # oldest first: a later statement replaces an earlier one on the same key
        for sentence in sentences(source.text):
            for category, text in _rule_hits(sentence):
                key = fact_key(category, text)
                found.pop(key, None)
                found[key] = Fact(category, text, key, source.id, sentence, RULES_CONFIDENCE)
    return list(found.values())

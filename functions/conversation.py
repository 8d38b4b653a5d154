"""Conversation analysis without a model: coaching figures from segment timing, and the offline baseline.

Coaching figures are computed, never guessed, from a transcript's segments
(`[{"start", "end", "speaker", "text"}]`, in time order):

- talk time per speaker: the sum of its segments' durations; `rep_talk_share` is the rep's share of
  all talk time, `talk_to_listen_ratio` the rep's talk time over everyone else's;
- longest monologue: consecutive segments of one speaker with nobody else in between, from the first
  one's start to the last one's end;
- questions: sentences ending in "?" (Whisper and meeting tools punctuate);
- interruptions: a segment that starts before the previous segment of another speaker has ended,
  counted for the speaker who cut in.

The baseline (`baseline_analysis`) reads the same segments with the offline lexicons (sentiment per
speaker per time window, functions/sentiment.py), dictionaries of objection cues in German and
English, the organisation's competitor list (names and aliases, whole words, case-insensitive), and
cue phrases for commitments (action items). Its summary says that it is a baseline and what it
counted; it never pretends to understand the call.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from salesflow.functions import sentiment

BASELINE_VERSION = "listening-baseline-1"
COACHING_VERSION = "segments-1"
WINDOW_SECONDS = 120.0  # sentiment per speaker per two minutes of the call
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)

# objection cues: (kind, language) -> patterns on lower-cased text
OBJECTION_CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "price": {
        "en": (r"\btoo expensive\b", r"\bexpensive\b", r"\bprice is\b", r"\bcosts? too much\b", r"\bbudget\b",
               r"\bcheaper\b", r"\bdiscount\b", r"\bcan'?t afford\b"),
        "de": (r"\bzu teuer\b", r"\bteuer\b", r"\bpreis\w*\b", r"\bkosten\b", r"\bbudget\b", r"\bgünstiger\b",
               r"\brabatt\b"),
    },
    "timing": {
        "en": (r"\bnot (right )?now\b", r"\bnext (quarter|year)\b", r"\bbad time\b", r"\btoo early\b",
               r"\bcall (me|us) (back )?later\b", r"\bno time\b", r"\blater this year\b"),
        "de": (r"\bnicht jetzt\b", r"\bnächste[ns]? (quartal|jahr)\b", r"\bspäter\b", r"\bzu früh\b",
               r"\bkeine zeit\b", r"\bderzeit nicht\b"),
    },
    "competition": {
        "en": (r"\b(already )?(use|using|work with|working with) (another|a different)\b", r"\bcompetitor\b",
               r"\bother (vendor|provider|offer)s?\b", r"\bhappy with (our|the) current\b"),
        "de": (r"\bandere[nrm]? anbieter\b", r"\bwettbewerb\w*\b", r"\bkonkurren\w*\b",
               r"\bzufrieden mit (unserem|dem) (jetzigen|aktuellen)\b"),
    },
    "authority": {
        "en": (r"\b(my|our) (boss|manager|ceo|cfo|board)\b", r"\bnot my decision\b", r"\bcan'?t decide\b",
               r"\bneed (to check|approval|sign-?off)\b", r"\bdecision maker\b"),
        "de": (r"\b(mein|meine|unser|unsere) (chef|chefin|geschäftsführung|vorstand)\b",
               r"\bnicht meine entscheidung\b", r"\bentscheide nicht\b", r"\bfreigabe\b", r"\babstimmen\b"),
    },
    "need": {
        "en": (r"\bdon'?t need\b", r"\bno need\b", r"\bnot (a )?priority\b", r"\bnot interested\b",
               r"\bworks fine\b", r"\bwhy would we\b"),
        "de": (r"\bbrauchen (wir )?(das )?nicht\b", r"\bkein bedarf\b", r"\bkeine priorität\b",
               r"\bkein interesse\b", r"\bfunktioniert gut\b"),
    },
}
# commitments a person makes on the call: candidates for tasks (a person accepts them)
COMMITMENT_CUES: dict[str, tuple[str, ...]] = {
    "en": (r"\bi('ll| will) (send|share|follow up|call|email|prepare|check)\b",
           r"\bwe('ll| will) (send|share|follow up|call|email|prepare|check)\b", r"\blet'?s (schedule|set up|book)\b",
           r"\bnext step\b", r"\bby (monday|tuesday|wednesday|thursday|friday|next week|tomorrow)\b"),
    "de": (r"\bich (schicke|sende|melde|rufe|bereite|prüfe)\b", r"\bwir (schicken|senden|melden|bereiten|prüfen)\b",
           r"\bnächste[rn]? schritt\b", r"\bbis (montag|dienstag|mittwoch|donnerstag|freitag|nächste woche|morgen)\b",
           r"\blassen sie uns\b"),
}
_STOP = frozenset("""a an and are as at be but by do for from have i if in is it its of on or our so that the
their them they this to was we were what when which who will with you your yes no not just can would could
about there here then than also very really okay ok well um uh like get got one two think know going want
der die das und ist nicht ich wir sie mit für ein eine einen zu auf es im in den dem des von uns ihnen haben
wäre gerne noch schon sehr gut ja nein auch aber dass wie was wenn dann so man hat sind war bei aus oder""".split())
_COMPILED: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


def _cues(language: str) -> list[tuple[str, re.Pattern[str]]]:
    if language not in _COMPILED:
        _COMPILED[language] = [(kind, re.compile(p)) for kind, by_lang in OBJECTION_CUES.items()
                               for lang, patterns in by_lang.items() if lang == language or language == "any"
                               for p in patterns]
    return _COMPILED[language]


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    speaker: str
    text: str

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def segments_of(raw: Iterable[Mapping[str, Any]]) -> list[Segment]:
    """Stored segments as Segment objects (a segment without a speaker is 'unknown')."""
    return [Segment(float(s["start"]), float(s["end"]), str(s.get("speaker") or "unknown"), str(s.get("text") or ""))
            for s in raw]


def questions_in(text: str) -> int:
    return sum(1 for s in _SENTENCE.findall(text) if s.strip().endswith("?"))


def choose_rep(segments: Sequence[Segment], rep_speaker: str | None) -> tuple[str, bool]:
    """The rep's label: the one given, else 'rep' if present, else whoever spoke first (assumed)."""
    speakers = [s.speaker for s in segments]
    if rep_speaker and rep_speaker in speakers:
        return rep_speaker, False
    if "rep" in speakers:
        return "rep", False
    return (speakers[0] if speakers else "unknown"), True


def coaching_figures(segments: Sequence[Segment], rep_speaker: str | None = None) -> dict[str, Any]:
    """Talk time, talk share, talk-to-listen ratio, longest monologue, questions, interruptions."""
    rep, assumed = choose_rep(segments, rep_speaker)
    talk: Counter[str] = Counter()
    questions: Counter[str] = Counter()
    interruptions: Counter[str] = Counter()
    longest: dict[str, float] = {}
    run_speaker, run_start, run_end = None, 0.0, 0.0
    previous: Segment | None = None
    for seg in segments:
        talk[seg.speaker] += seg.seconds
        questions[seg.speaker] += questions_in(seg.text)
        if previous is not None and previous.speaker != seg.speaker and seg.start < previous.end:
            interruptions[seg.speaker] += 1
        if seg.speaker == run_speaker:
            run_end = max(run_end, seg.end)
        else:
            if run_speaker is not None:
                longest[run_speaker] = max(longest.get(run_speaker, 0.0), run_end - run_start)
            run_speaker, run_start, run_end = seg.speaker, seg.start, seg.end
        previous = seg
    if run_speaker is not None:
        longest[run_speaker] = max(longest.get(run_speaker, 0.0), run_end - run_start)
    total = sum(talk.values())
    others = total - talk[rep]
    duration = (max(s.end for s in segments) - min(s.start for s in segments)) if segments else 0.0
    speakers = sorted(talk)
    return {
        "version": COACHING_VERSION,
        "rep_speaker": rep,
        "rep_assumed": assumed,
        "speakers": speakers,
        "duration_seconds": round(duration, 2),
        "talk_seconds": {s: round(talk[s], 2) for s in speakers},
        "talk_share": {s: round(talk[s] / total, 4) if total else 0.0 for s in speakers},
        "rep_talk_share": round(talk[rep] / total, 4) if total else 0.0,
        "talk_to_listen_ratio": round(talk[rep] / others, 4) if others else None,
        "longest_monologue_seconds": {s: round(longest.get(s, 0.0), 2) for s in speakers},
        "rep_longest_monologue_seconds": round(longest.get(rep, 0.0), 2),
        "questions": {s: questions[s] for s in speakers},
        "rep_questions": questions[rep],
        "interruptions": {s: interruptions[s] for s in speakers},
        "rep_interruptions": interruptions[rep],
    }


def _whole_word(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(term.lower()) + r"(?!\w)")


def competitor_mentions(segments: Sequence[Segment], competitors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every mention of a listed competitor (its name or an alias, whole words), with time, speaker and quote."""
    patterns = [(str(c["name"]), str(c.get("id") or ""), _whole_word(term))
                for c in competitors for term in [c["name"], *(c.get("aliases") or [])]]
    out: list[dict[str, Any]] = []
    for seg in segments:
        lowered = seg.text.lower()
        seen: set[str] = set()
        for name, cid, pattern in patterns:
            match = pattern.search(lowered)
            if match and name not in seen:
                seen.add(name)
                out.append({"competitor": name, "competitor_id": cid or None, "at": seg.start,
                            "speaker": seg.speaker, "term": seg.text[match.start():match.end()],
                            "quote": seg.text[:300]})
    return out


def objections_in(segments: Sequence[Segment], rep: str, language: str) -> list[dict[str, Any]]:
    """Objection cues in what the other side said: one entry per kind and segment."""
    out: list[dict[str, Any]] = []
    for seg in segments:
        if seg.speaker == rep:
            continue
        lowered = seg.text.lower()
        kinds: dict[str, str] = {}
        for kind, pattern in _cues(language):
            match = pattern.search(lowered)
            if match and kind not in kinds:
                kinds[kind] = seg.text[match.start():match.end()]
        for kind, cue in kinds.items():
            out.append({"kind": kind, "at": seg.start, "speaker": seg.speaker, "cue": cue, "quote": seg.text[:300]})
    return out


def sentiment_over_time(segments: Sequence[Segment], language: str,
                        window: float = WINDOW_SECONDS) -> list[dict[str, Any]]:
    """Lexicon sentiment per speaker per time window: the mean of its segments' scores there."""
    buckets: dict[tuple[str, int], list[float]] = {}
    source = None
    for seg in segments:
        if not seg.text.strip():
            continue
        reading = sentiment.read(seg.text, language)
        source = reading.source
        buckets.setdefault((seg.speaker, int(seg.start // window)), []).append(reading.score)
    out = []
    for (speaker, index), scores in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        mean = sum(scores) / len(scores)
        out.append({"speaker": speaker, "window_start": index * window, "window_end": (index + 1) * window,
                    "segments": len(scores), "score": round(mean, 4), "label": sentiment.label_of(mean),
                    "source": source})
    return out


def action_items_in(segments: Sequence[Segment], language: str) -> list[dict[str, Any]]:
    """Sentences that commit someone to a next step: proposed tasks, for a person to accept."""
    patterns = [re.compile(p) for p in COMMITMENT_CUES.get(language, ()) + COMMITMENT_CUES["en" if language == "de"
                                                                                        else "de"]]
    out: list[dict[str, Any]] = []
    for seg in segments:
        for sentence in _SENTENCE.findall(seg.text):
            text = sentence.strip()
            if text and any(p.search(text.lower()) for p in patterns):
                out.append({"text": text[:300], "owner": seg.speaker, "at": seg.start, "status": "proposed"})
    return out[:10]


def topics_in(segments: Sequence[Segment], limit: int = 6) -> list[str]:
    """The most frequent content words (a crude but honest stand-in for topics)."""
    words = Counter(w.lower() for seg in segments for w in _WORD.findall(seg.text)
                    if len(w) > 3 and w.lower() not in _STOP)
    return [w for w, n in words.most_common(limit) if n >= 2]


def key_moments(objections: Sequence[Mapping[str, Any]], mentions: Sequence[Mapping[str, Any]],
                segments: Sequence[Segment], rep: str) -> list[dict[str, Any]]:
    """Objections, competitor mentions and the other side's questions, in time order."""
    moments = [{"at": o["at"], "kind": "objection", "speaker": o["speaker"], "text": f"{o['kind']}: {o['quote']}"}
               for o in objections]
    moments += [{"at": m["at"], "kind": "competitor", "speaker": m["speaker"], "text": m["quote"]} for m in mentions]
    moments += [{"at": s.start, "kind": "question", "speaker": s.speaker, "text": s.text[:300]}
                for s in segments if s.speaker != rep and questions_in(s.text)]
    return sorted(moments, key=lambda m: m["at"])[:20]


def baseline_analysis(segments: Sequence[Segment], competitors: Sequence[Mapping[str, Any]], language: str,
                      rep_speaker: str | None = None) -> dict[str, Any]:
    """The whole offline reading of one transcript, labelled as the baseline."""
    coaching = coaching_figures(segments, rep_speaker)
    rep = coaching["rep_speaker"]
    objections = objections_in(segments, rep, language)
    mentions = competitor_mentions(segments, competitors)
    topics = topics_in(segments)
    kinds = sorted({o["kind"] for o in objections})
    names = sorted({m["competitor"] for m in mentions})
    if language == "de":
        summary = (f"Basisauswertung ohne Modell: {len(segments)} Abschnitte, {len(coaching['speakers'])} Sprecher, "
                   f"{coaching['duration_seconds'] / 60:.1f} Minuten. Einwände: {', '.join(kinds) or 'keine'}. "
                   f"Wettbewerber: {', '.join(names) or 'keine'}. Häufige Begriffe: {', '.join(topics) or 'keine'}.")
    else:
        summary = (f"Baseline reading without a model: {len(segments)} segments, {len(coaching['speakers'])} speakers, "
                   f"{coaching['duration_seconds'] / 60:.1f} minutes. Objections: {', '.join(kinds) or 'none'}. "
                   f"Competitors: {', '.join(names) or 'none'}. Frequent terms: {', '.join(topics) or 'none'}.")
    return {
        "summary": summary,
        "topics": topics,
        "sentiment": sentiment_over_time(segments, language),
        "action_items": action_items_in(segments, language),
        "key_moments": key_moments(objections, mentions, segments, rep),
        "objections": objections,
        "competitor_mentions": mentions,
        "coaching": coaching,
    }


def transcript_lines(segments: Sequence[Segment], clip: int | None = None) -> str:
    """The transcript as `[mm:ss] speaker: text` lines, for a prompt."""
    lines = []
    for s in segments:
        text = " ".join(s.text.split())
        if clip is not None and len(text) > clip:
            text = text[: clip - 1] + "…"
        lines.append(f"[{int(s.start) // 60:02d}:{int(s.start) % 60:02d}] {s.speaker}: {text}")
    return "\n".join(lines)

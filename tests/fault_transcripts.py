"""The fault server's speech-to-text side: OpenAI's `POST /v1/audio/transcriptions` (multipart in, verbose_json out).

A test scripts what a transcription model hears with `heard(segments, ...)` (segments as
`{"start", "end", "text"}` and, for a diarising server, `"speaker"`), or an error with the fault
server's `status(...)`, `hang(...)`. The answer has OpenAI's verbose_json shape: text, language
(Whisper's full English name), duration, segments with id/seek/start/end/text/tokens/temperature/
avg_logprob/compression_ratio/no_speech_prob, and `usage` of type duration. Each request is recorded
with its form fields and the uploaded file's name, content type and size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

PATH = "/v1/audio/transcriptions"
DEFAULT_SEGMENTS: tuple[dict[str, Any], ...] = (
    {"start": 0.0, "end": 4.0, "speaker": "rep", "text": "Hello, thanks for taking the call."},
    {"start": 4.0, "end": 9.0, "speaker": "customer", "text": "Sure. What does it cost?"},
)


@dataclass(frozen=True)
class Heard:
    segments: tuple[dict[str, Any], ...] = DEFAULT_SEGMENTS
    language: str = "english"
    # seconds billed; None: the last segment's end
    seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def heard(segments: list[dict[str, Any]] | tuple[dict[str, Any], ...] = DEFAULT_SEGMENTS, *,
          language: str = "english", seconds: float | None = None) -> Heard:
    return Heard(tuple(segments), language, seconds)


def parse_form(content_type: str, raw: bytes) -> dict[str, Any]:
    """The multipart form: text fields as strings, the file as {filename, content_type, size}."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                                                  + raw)
    form: dict[str, Any] = {}
    if not message.is_multipart():
        return form
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None or name == "file":
            form[str(name)] = {"filename": filename, "content_type": part.get_content_type(), "size": len(payload)}
        elif name in form:  # repeated fields (timestamp_granularities[])
            previous = form[str(name)]
            form[str(name)] = [*(previous if isinstance(previous, list) else [previous]), payload.decode()]
        else:
            form[str(name)] = payload.decode()
    return form


def verbose_json(answer: Heard) -> dict[str, Any]:
    segments = []
    for i, s in enumerate(answer.segments):
        seg = {"id": i, "seek": 0, "start": float(s["start"]), "end": float(s["end"]), "text": " " + s["text"],
               "tokens": [50364 + i], "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.3,
               "no_speech_prob": 0.01}
        if s.get("speaker") is not None:
            seg["speaker"] = s["speaker"]
        segments.append(seg)
    duration = max((float(s["end"]) for s in answer.segments), default=0.0)
    return {"task": "transcribe", "language": answer.language, "duration": duration,
            "text": " ".join(s["text"] for s in answer.segments), "segments": segments,
            "usage": {"type": "duration", "seconds": answer.seconds if answer.seconds is not None else duration},
            **answer.extra}

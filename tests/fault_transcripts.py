"""The fault server's speech-to-text side: OpenAI's `POST /v1/audio/transcriptions` (multipart in,
the asked-for `response_format` out).

A test scripts what a transcription model hears with `heard(segments, ...)` (segments as
`{"start", "end", "text"}` and, for a diarising server, `"speaker"`), or an error with the fault
server's `status(...)`, `hang(...)`. The answer takes the shape of the format the request asks for,
as OpenAI's API reference gives them:
- `verbose_json` (whisper-1): task, text, language (Whisper's full English name), duration, segments
  with id/seek/start/end/text/tokens/temperature/avg_logprob/compression_ratio/no_speech_prob (and
  `speaker` where the script names one, as diarising whisper servers add it), `usage` of type duration;
- `diarized_json` (gpt-4o-transcribe-diarize): task, duration, text, segments of type
  `transcript.text.segment` with a string id, start, end, text and `speaker` (scripted, else "A"),
  `usage` of type tokens;
- `json`: text and usage (tokens when `tokens=` is scripted, else duration); `text`: the transcript as
  text/plain.
Each request is recorded with its form fields and the uploaded file's name, content type and size.
"""

from __future__ import annotations

import json
import math
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
    # (input, output) tokens a token-billed model reports; None: diarized_json's default (600, 50 a minute)
    tokens: tuple[int, int] | None = None


def heard(segments: list[dict[str, Any]] | tuple[dict[str, Any], ...] = DEFAULT_SEGMENTS, *,
          language: str = "english", seconds: float | None = None,
          tokens: tuple[int, int] | None = None) -> Heard:
    return Heard(tuple(segments), language, seconds, tokens=tokens)


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


def _duration(answer: Heard) -> float:
    return max((float(s["end"]) for s in answer.segments), default=0.0)


def _tokens(answer: Heard) -> dict[str, Any]:
    audio, out = answer.tokens or (math.ceil(_duration(answer) * 10), math.ceil(_duration(answer) * 50 / 60))
    return {"type": "tokens", "input_tokens": audio, "output_tokens": out, "total_tokens": audio + out,
            "input_token_details": {"audio_tokens": audio, "text_tokens": 0}}


def diarized_json(answer: Heard) -> dict[str, Any]:
    segments = [{"type": "transcript.text.segment", "id": f"seg_{i:03d}", "start": float(s["start"]),
                 "end": float(s["end"]), "text": s["text"], "speaker": s.get("speaker") or "A"}
                for i, s in enumerate(answer.segments)]
    return {"task": "transcribe", "duration": _duration(answer), "text": " ".join(s["text"] for s in answer.segments),
            "segments": segments, "usage": _tokens(answer), **answer.extra}


def response(form: dict[str, Any], answer: Heard) -> tuple[int, str, bytes]:
    """(status, content type, body) of the answer in the format the form asks for (json when it names none)."""
    fmt = form.get("response_format") or "json"
    text = " ".join(s["text"] for s in answer.segments)
    if fmt == "text":
        return 200, "text/plain; charset=utf-8", (text + "\n").encode()
    if fmt == "verbose_json":
        body = verbose_json(answer)
    elif fmt == "diarized_json":
        body = diarized_json(answer)
    elif fmt == "json":
        usage = _tokens(answer) if answer.tokens else {
            "type": "duration", "seconds": answer.seconds if answer.seconds is not None else _duration(answer)}
        body = {"text": text, "usage": usage, **answer.extra}
    else:
        return 400, "application/json", json.dumps({"error": {
            "message": f"response_format {fmt} is not supported here", "type": "invalid_request_error",
            "param": "response_format", "code": None}}).encode()
    return 200, "application/json", json.dumps(body).encode()


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

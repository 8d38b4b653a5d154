"""Listening (issue 14): call recordings in, conversation analyses out.

    POST /api/activities/{activity_id}/recording   multipart (org_id, file): store a call or meeting
                                                   recording and queue its transcription (202)
    POST /api/ai/conversation/analyze              {org_id, activity_id, method, language, wait}: queue an
                                                   analysis of the transcript (202), or wait for it (200)

Both run as the caller through `api` RPCs (api.upload_call_recording, api.request_conversation_analysis,
api.list_conversation_insights), so RLS decides and the RPCs check size, format, roles and consent;
this module only bounds what it reads before it asks them. Transcripts, competitors and insights
are read with the RPCs directly (/rest/v1/rpc/get_call_transcript, list_competitors, ...).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, read_json_object

router = APIRouter()
# salesflow.recording_limits() is the rule (25 MiB); this bounds the request around it (form fields, boundaries)
MAX_RECORDING_BYTES = 26214400
MAX_UPLOAD_BYTES = MAX_RECORDING_BYTES + 64 * 1024
POLL_SECONDS = 0.25


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: UUID
    activity_id: UUID
    method: Literal["auto", "baseline", "model"] = "auto"
    language: Literal["de", "en"] | None = None
    # which speaker label is the rep (a diarising provider's A, B, ...); kept with the transcript
    rep_speaker: str | None = Field(default=None, min_length=1, max_length=100)
    # seconds to wait for the analysis before answering 202 with the pending row
    wait: float = Field(default=0, ge=0, le=120)


def _too_large() -> ApiError:
    return ApiError(413, "PGRST413", f"a recording upload is limited to {MAX_RECORDING_BYTES} bytes",
                    hint="Compress the recording (e.g. mp3 at 64 kbit/s) or split it.")


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise _too_large()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD_BYTES:
                raise _too_large()
    except ClientDisconnect:
        raise ApiError(400, "PGRST102", "the upload was cut off before it was complete") from None
    return bytes(body)


async def _rpc(request: Request, name: str, args: dict[str, Any]) -> Any:
    payload = await request.app.state.rpc.call(name, args, caller_of(request), request)
    return json.loads(payload) if payload is not None else None


@router.post("/api/activities/{activity_id}/recording")
async def upload_recording(activity_id: UUID, request: Request) -> Response:
    """Store the recording of a call or meeting and queue its transcription."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(415, "PGRST102", "send the recording as multipart/form-data with fields org_id and file")
    body = await _bounded_body(request)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
    except Exception as exc:  # noqa: BLE001 - python-multipart's and starlette's parse errors alike
        raise ApiError(400, "PGRST102", f"the multipart body could not be read: {str(exc)[:200]}") from None
    upload, org_id = form.get("file"), form.get("org_id")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "PGRST102", "the form has no file field with the recording")
    try:
        org = UUID(str(org_id))
    except ValueError:
        raise ApiError(400, "PGRST102", "org_id must be the organisation's uuid") from None
    audio = await upload.read()
    filename = (upload.filename or "").replace("\x00", "")[:255] or None
    args = {"org_id": str(org), "activity_id": str(activity_id), "audio": "\\x" + audio.hex(),
            "content_type": (upload.content_type or "").replace("\x00", "")[:100], "filename": filename}
    result = await _rpc(request, "upload_call_recording", args)
    return Response(json.dumps(result, ensure_ascii=False), status_code=202, media_type="application/json")


@router.post("/api/ai/conversation/analyze")
async def analyze(request: Request) -> Response:
    """Queue the analysis of a call or meeting transcript; with `wait`, answer once it is stored."""
    try:
        body = AnalyzeRequest.model_validate(await read_json_object(request, limit=16 * 1024))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "PGRST100", f"{where}: {first['msg']}") from None
    args: dict[str, Any] = {"org_id": str(body.org_id), "activity_id": str(body.activity_id), "method": body.method}
    if body.language is not None:
        args["language"] = body.language
    if body.rep_speaker is not None:
        args["rep_speaker"] = body.rep_speaker.replace("\x00", "")
    insight = await _rpc(request, "request_conversation_analysis", args)
    deadline = time.monotonic() + body.wait
    while insight.get("status") == "pending" and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        rows = await _rpc(request, "list_conversation_insights", {
            "org_id": str(body.org_id), "activity_id": str(body.activity_id), "page_size": 20})
        insight = next((r for r in rows or [] if r["id"] == insight["id"]), insight)
    status = 202 if insight.get("status") == "pending" else 200
    return Response(json.dumps(insight, ensure_ascii=False), status_code=status, media_type="application/json")

"""`transcribe_call`: an uploaded call or meeting recording becomes the activity's transcript.

Queued by api.upload_call_recording (sql/objects/85_conversations.sql). The recording goes to the
gateway's transcription providers (salesflow/gateway/transcription.py: OpenAI's
/v1/audio/transcriptions protocol, cost and log row like every call); the transcript is stored,
and the audio dropped, in the transaction that logs the call. Without a transcription provider the
row says so (status no_provider, with what to configure) and the audio waits; a provider's refusal
is stored as status failed with its reason. A second delivery finds the transcript done and stops.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.transcription import NoTranscriptionProvider, Transcript, transcribe

TIMEOUT = 110.0  # a long recording takes a provider a while; the lease below covers it
LEASE = TIMEOUT + 20.0


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    activity_id: UUID


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("transcribe_call needs the job's org_id")
    key = {"org_id": job.org_id, "activity_id": payload.activity_id}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        row = await (await cur.execute(query("recording_to_transcribe"), key)).fetchone()
    if row is None or row["status"] == "done" or row["audio"] is None:
        return  # gone, transcribed already, or given as text meanwhile

    async def status(value: str, detail: str) -> None:
        async with job.connection() as conn:
            await conn.execute(query("transcript_status"), {**key, "status": value, "detail": detail[:2000],
                                                            "sha256": row["audio_sha256"]})

    if not row["allowed"]:
        await status("failed", "the lead does not consent to AI processing: the recording is not transcribed")
        return

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, t: Transcript, model: ModelConfig) -> None:
        await conn.execute(query("store_transcript"), {
            **key, "language": t.language, "duration": t.duration, "transcript": t.text,
            "segments": Jsonb(t.segments), "speakers_marked": t.speakers_marked, "request_id": request_id,
            "provider": model.provider, "model": model.model, "sha256": row["audio_sha256"]})

    try:
        await transcribe(job.resources.gateway, org_id=job.org_id, audio=bytes(row["audio"]),
                         filename=row["audio_filename"] or f"{payload.activity_id}.audio",
                         content_type=row["audio_content_type"], store=store,
                         subject_id=str(row["lead_id"]) if row["lead_id"] else None, user_id=row["uploaded_by"],
                         deadline=TIMEOUT - 10.0)
    except NoTranscriptionProvider as exc:
        await status("no_provider", f"{exc}; the recording is kept until it is transcribed")
    except BudgetExceeded as exc:
        await status("failed", f"the AI budget refused the transcription: {exc}")
    except CallFailed as exc:
        if exc.status >= 500 and not job.last_attempt:
            raise  # retried by the queue with backoff
        await status("failed", f"the transcription failed: {exc}")
    except GatewayError as exc:
        await status("failed", f"the transcription failed: {exc}")


HANDLER = Handler(kind="transcribe_call", payload=Payload, run=run, timeout=TIMEOUT, backoff_base=30.0, lease=LEASE)

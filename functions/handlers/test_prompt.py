"""`test_prompt`: run a prompt's test suite against one version (functions/prompt_tests.py).

Asked for with `api.request_prompt_test_run`. Each case is one logged gateway call; the results
are keyed by run and case, so a redelivered job replaces what it stored rather than adding to it,
and a run already finished is left alone.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict

from salesflow.functions import prompt_tests
from salesflow.functions.handlers import ai_suggest
from salesflow.functions.registry import Handler, JobContext, PermanentError

# a suite is several calls; the offline model takes up to ai_suggest's deadline for each
MAX_CASES_IN_TIME = 4
TIMEOUT = ai_suggest.OFFLINE_DEADLINE * MAX_CASES_IN_TIME / 2
LEASE = TIMEOUT + 20.0


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: UUID


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("test_prompt needs the job's org_id")
    offline = job.resources.llm_config.offline_only()
    await prompt_tests.execute_run(job.resources.gateway, job.connection, job.org_id, payload.run_id,
                                   deadline=ai_suggest.deadline(job), offline=offline)


HANDLER = Handler(kind="test_prompt", payload=Payload, run=run, timeout=TIMEOUT, lease=LEASE)

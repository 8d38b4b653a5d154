"""With no provider key, the sales assistant still produces: a stored, schema-valid draft labelled as the
offline model's, through the real API process and llama.cpp serving SmolLM2-135M (its grammar held to the
prompt's bounded schema, so the JSON closes within the offline model's output limit)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from salesflow.gateway.config import OFFLINE_NOTICE
from salesflow.gateway.local import LocalLLMServer
from salesflow.gateway.product_prompts import product_prompt
from tests.conftest import ApiProcess, run_api
from tests.test_sales_assistant import Org, db_rows, ok_json


@pytest.fixture(scope="module")
def offline_api(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    keys = [k for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
            if os.environ.get(k)]
    if keys:
        pytest.skip(f"provider keys are set ({', '.join(keys)}): this test is about having none")
    log = Path(tmp_path_factory.mktemp("llama")) / "llama.log"
    with LocalLLMServer(log_path=log) as llama:
        # no keys and no config file: the local model is the only provider, as `salesflow up` runs offline
        env = {"SALESFLOW_LOCAL_LLM_URL": llama.base_url, "SALESFLOW_LLM_CONFIG": ""}
        with run_api(module_db_url, env) as process:
            yield process


@pytest.mark.parametrize(("kind", "path", "prompt"), [
    ("email", "/api/ai/email/compose", "email_composer"),
    ("reply", "/api/ai/email/reply-suggestions", "reply_suggestions"),
])
def test_the_offline_model_writes_a_stored_schema_valid_labelled_draft(
        offline_api: ApiProcess, kind: str, path: str, prompt: str) -> None:
    org = Org(offline_api, f"Offline {kind}")
    body = {"org_id": org.id, "lead_id": org.lead, "purpose": "follow up on the rollout"} if kind == "email" \
        else {"org_id": org.id, "message_id": org.inbound}
    draft = ok_json(httpx.post(f"{offline_api.url}{path}", json=body, headers=org.headers, timeout=180))
    assert draft["kind"] == kind and draft["offline_model"] is True and draft["notice"] == OFFLINE_NOTICE
    assert draft["model"] == "SmolLM2-135M-Instruct"
    jsonschema.validate(draft["content"], product_prompt(prompt, "en").output_schema)
    stored = db_rows(offline_api.database_url, "select offline_model, prompt_name, status from salesflow.ai_drafts "
                     "where org_id = %s and id = %s", org.id, draft["id"])
    assert stored == [{"offline_model": True, "prompt_name": f"{prompt}.en", "status": "draft"}]

"""System prompts from the registry: sticky A/B assignment, product defaults, safe rendering.

A call names a prompt ("ai_coach") and a language; the registry name is "ai_coach.de". The
version comes from salesflow.assign_prompt_version (the running experiment's arm for this
subject, else the production label). An organisation that has never registered a product prompt
gets the shipped version registered on first use, under a transaction-scoped advisory lock so
that concurrent first calls create one version, not two.

Lead-supplied text is data, never instructions: the product templates put it inside
<untrusted_data> tags, and every value is stripped of those tags first so that a lead cannot close
the block from inside its own message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from salesflow.db.queries import query
from salesflow.gateway.errors import GatewayError
from salesflow.gateway.product_prompts import PRODUCT_PROMPTS, ProductPrompt

_TAG = re.compile(r"<\s*/?\s*untrusted_data\s*>", re.IGNORECASE)
_PRODUCT: dict[str, ProductPrompt] = {p.name: p for p in PRODUCT_PROMPTS}


@dataclass(frozen=True)
class SystemPrompt:
    name: str
    version: int
    label: str
    experiment_id: UUID | None
    subject_id: str | None
    text: str
    output_schema: Mapping[str, Any] | None
    max_tokens: int | None
    temperature: float | None


def strip_tags(value: Any) -> Any:
    """`value` with every <untrusted_data> tag removed from its strings, however deeply nested."""
    if isinstance(value, str):
        return _TAG.sub("", value)
    if isinstance(value, Mapping):
        return {k: strip_tags(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_tags(v) for v in value]
    return value


def untrusted(text: str) -> str:
    """Lead-supplied text for a user message: marked as data, with any tags inside it removed."""
    return f"<untrusted_data>\n{strip_tags(text)}\n</untrusted_data>"


async def register_product_prompt(conn: psycopg.AsyncConnection[Any], org_id: UUID, prompt: ProductPrompt) -> None:
    """Register the shipped version under the production label, unless someone just did."""
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{org_id}:{prompt.name}",))
        labelled = await (await conn.execute(
            "select 1 from salesflow.prompts as p join salesflow.prompt_labels as l "
            "on l.org_id = p.org_id and l.prompt_id = p.id "
            "where p.org_id = %s and p.name = %s and l.label = 'production'", (org_id, prompt.name))).fetchone()
        if labelled:
            return
        row = await (await conn.execute(query("register_prompt"), {
            "org_id": org_id, "name": prompt.name, "template": prompt.template,
            "variables": Jsonb(dict(prompt.variables)), "model_config": Jsonb(dict(prompt.model_config)),
            "output_schema": Jsonb(dict(prompt.output_schema)) if prompt.output_schema else None})).fetchone()
        assert row is not None
        await conn.execute(query("label_prompt"), {"org_id": org_id, "name": prompt.name, "version": row[0]})


async def resolve_prompt(conn: psycopg.AsyncConnection[Any], org_id: UUID, name: str, language: str,
                         variables: Mapping[str, Any], subject_id: str | None, *,
                         version: int | None = None) -> SystemPrompt:
    """The rendered system prompt this subject gets (or `version` of it, labels and experiments aside).

    Raises GatewayError for an unknown prompt or version, or bad variables.
    """
    full = f"{name}.{language}"
    subject = subject_id or "anonymous"
    if version is not None:
        return await _render(conn, org_id, full, {"version": version, "label": "pinned", "experiment_id": None},
                             variables, subject)
    for first in (True, False):
        try:
            async with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                assigned = await (await cur.execute(query("assign_prompt_version"), {
                    "org_id": org_id, "name": full, "subject_id": subject})).fetchone()
            break
        except psycopg.Error as exc:
            if exc.sqlstate != "PT404":
                raise
            if not first or full not in _PRODUCT:
                raise GatewayError("not_found", f"prompt {full} has no production version: {exc.diag.message_primary}",
                                   status=404) from None
            await register_product_prompt(conn, org_id, _PRODUCT[full])
    assert assigned is not None
    return await _render(conn, org_id, full, assigned, variables, subject)


async def _render(conn: psycopg.AsyncConnection[Any], org_id: UUID, full: str, assigned: Mapping[str, Any],
                  variables: Mapping[str, Any], subject: str) -> SystemPrompt:
    cur = conn.cursor(row_factory=dict_row)
    version = await (await cur.execute(query("prompt_version"), {
        "org_id": org_id, "name": full, "version": assigned["version"]})).fetchone()
    if version is None:
        raise GatewayError("not_found", f"prompt {full} has no version {assigned['version']}", status=404)
    try:
        async with conn.transaction():
            rendered = await (await conn.execute(query("render_prompt_version"), {
                "org_id": org_id, "name": full, "version": assigned["version"],
                "variables": Jsonb(strip_tags(dict(variables)))})).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate == "22023":
            raise GatewayError("bad_request", exc.diag.message_primary or "bad prompt variables", status=400) from None
        raise
    assert rendered is not None
    config = version["model_config"] or {}
    return SystemPrompt(
        name=full, version=assigned["version"], label=assigned["label"], experiment_id=assigned["experiment_id"],
        subject_id=subject, text=rendered[0], output_schema=version["output_schema"],
        max_tokens=config.get("max_tokens"), temperature=config.get("temperature"))

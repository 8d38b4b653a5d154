"""What the lead-intelligence jobs (`analyze_personality`, `propose_bant`) share about the AI gateway.

The gateway itself is the worker's (`job.resources.gateway`): one per worker process, so its
cooldowns and breaker state serve every job. The module's name starts with an underscore, so the
registry does not take it for a job kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from psycopg.types.json import Jsonb

TIMEOUT = 55.0  # seconds; the worker's default lease is 60
DEADLINE = TIMEOUT - 5.0  # the gateway's whole call, retries and fallbacks included



def inputs_of(*rows: Iterable[Mapping[str, Any]]) -> Jsonb:
    """The identifiers of the rows a job showed the model, by table: {"messages": [...], "activities": [...]}.

    Rows without a `source` are messages (the lead's own words)."""
    ids: dict[str, list[str]] = {}
    for group in rows:
        for row in group:
            ids.setdefault(row.get("source", "messages"), []).append(str(row["id"]))
    return Jsonb({table: sorted(set(found)) for table, found in ids.items()})

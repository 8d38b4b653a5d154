"""What the lead-intelligence jobs (`analyze_personality`, `propose_bant`) share about the AI gateway.

The gateway itself is the worker's (`job.resources.gateway`): one per worker process, so its
cooldowns and breaker state serve every job. The module's name starts with an underscore, so the
registry does not take it for a job kind.
"""

from __future__ import annotations

TIMEOUT = 55.0  # seconds; the worker's default lease is 60
DEADLINE = TIMEOUT - 5.0  # the gateway's whole call, retries and fallbacks included


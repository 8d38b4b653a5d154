"""Cooldowns per model and the backoff between attempts.

A model that fails with a retryable error `failures` times in a row is cooled down: routes skip it
until the cooldown ends (or a Retry-After that asks for longer). Then one call may try it again
(half-open); success closes it, another failure opens it again. State is per process, as in
LiteLLM's default: each worker learns about a failing provider on its own after a few calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from salesflow.gateway.config import CooldownConfig, RetryConfig


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    trial: bool = False  # half-open: one call is trying the model again


class Cooldowns:
    def __init__(self, config: CooldownConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._states: dict[str, _State] = {}

    def available(self, ref: str) -> bool:
        """Whether a call may use the model now; the first call after a cooldown is the trial."""
        state = self._states.get(ref)
        if state is None or state.open_until == 0.0:
            return True
        if self.clock() < state.open_until or state.trial:
            return False
        state.trial = True
        return True

    def remaining(self, ref: str) -> float:
        state = self._states.get(ref)
        return max(0.0, state.open_until - self.clock()) if state else 0.0

    def success(self, ref: str) -> None:
        self._states.pop(ref, None)

    def failure(self, ref: str, retry_after: float | None = None) -> bool:
        """Count a retryable failure; returns True when the model is (again) cooling down."""
        state = self._states.setdefault(ref, _State())
        state.failures += 1
        if state.trial or state.failures >= self.config.failures:
            state.trial = False
            state.open_until = self.clock() + max(self.config.seconds, retry_after or 0.0)
            return True
        return False

    def is_open(self, ref: str) -> bool:
        state = self._states.get(ref)
        return bool(state and state.open_until and self.clock() < state.open_until)


def backoff(config: RetryConfig, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempt + 1`: the provider's Retry-After if it gave one, else
    exponential backoff with full jitter."""
    if retry_after is not None:
        return retry_after
    ceiling = min(config.max_delay, config.base_delay * 2 ** (attempt - 1))
    return (rng or random).uniform(0, ceiling)

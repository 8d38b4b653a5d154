"""Task routing: which models a call tries, in which order, and which one it is measured against.

A call names its task, importance (low/medium/high/critical) and cost sensitivity (low/medium/high).
The task's policy turns importance into the least quality a model must have; an estimated
complexity above 0.3 raises that bar, by up to 0.15 at complexity 1 (short, plain requests do not
need more than their importance asks). Among the models that clear it:

- cost sensitivity "high" takes the cheapest first,
- "medium" the cheapest that clears the bar with a margin of 0.1 (else the best),
- "low" the best quality first.

The fallback chain is then the rest of the qualifying models (cheapest first), and after them the
models below the bar, best first, so a call degrades rather than fails. An explicit chain in the
configuration replaces all of this for its task. The baseline, against which the savings view
prices every call, is the best model available for the task.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from salesflow.gateway.config import COST_SENSITIVITY, IMPORTANCE, GatewayConfig, ModelConfig

# words that mark a request as analysis rather than lookup, German and English
_HARD_WORDS = re.compile(
    r"\b(why|warum|weshalb|compare|vergleich\w*|analy[sz]\w*|strateg\w*|negotiat\w*|verhandl\w*|"
    r"explain|erklär\w*|trade-?offs?|abwäg\w*|plan|evaluate|bewert\w*|objection\w*|einwand|einwände)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Route:
    chain: tuple[ModelConfig, ...]
    baseline: ModelConfig
    required_quality: float
    complexity: float


def estimate_complexity(texts: Iterable[str], *, structured: bool = False, turns: int = 0) -> float:
    """A 0..1 estimate of how hard a request is, from what is known before the call.

    Length counts most (log-scaled, saturating near 4,000 words), then questions and analysis
    words, a required JSON shape, and a long conversation. A heuristic, stated as such: the log
    rows let an analyst check it against error rates and feedback per task.
    """
    text = "\n".join(texts)
    words = len(text.split())
    length = min(1.0, math.log10(1 + words) / math.log10(4000))
    questions = min(1.0, text.count("?") / 4)
    hard = min(1.0, len(_HARD_WORDS.findall(text)) / 3)
    score = 0.45 * length + 0.2 * questions + 0.2 * hard + (0.1 if structured else 0.0) + min(0.05, turns / 200)
    return round(min(1.0, score), 3)


def route(config: GatewayConfig, task: str, importance: str = "medium", cost_sensitivity: str = "medium",
          complexity: float = 0.0, *, min_context: int = 0, exclude: Sequence[str] = ()) -> Route:
    """The models to try for one call, best first; raises ValueError for unknown levels or no models."""
    if importance not in IMPORTANCE:
        raise ValueError(f"importance must be one of {', '.join(IMPORTANCE)}, not {importance!r}")
    if cost_sensitivity not in COST_SENSITIVITY:
        raise ValueError(f"cost_sensitivity must be one of {', '.join(COST_SENSITIVITY)}, not {cost_sensitivity!r}")
    policy = config.policy(task)
    models = [m for m in config.available_models() if m.context_window >= min_context and m.ref not in exclude]
    if not models:
        raise ValueError(f"no configured model can take task {task!r} (context of {min_context} tokens needed); "
                         "set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or SALESFLOW_LOCAL_LLM_URL, "
                         "or add providers")
    baseline = max(models, key=lambda m: (m.quality, -_price(m)))
    required = min(1.0, policy.min_quality[importance] + 0.15 * max(0.0, min(1.0, complexity) - 0.3) / 0.7)
    if policy.fallbacks:
        by_ref = {m.ref: m for m in models}
        chain = tuple(by_ref[ref] for ref in policy.fallbacks if ref in by_ref)
        if chain:
            return Route(chain, baseline, required, complexity)
    good = [m for m in models if m.quality >= required]
    below = sorted((m for m in models if m.quality < required), key=lambda m: (-m.quality, _price(m)))
    if good:
        cheapest_first = sorted(good, key=lambda m: (_price(m), -m.quality))
        if cost_sensitivity == "high":
            first = cheapest_first[0]
        elif cost_sensitivity == "medium":
            margin = [m for m in cheapest_first if m.quality >= required + 0.1]
            first = margin[0] if margin else max(good, key=lambda m: (m.quality, -_price(m)))
        else:
            first = max(good, key=lambda m: (m.quality, -_price(m)))
        rest = [m for m in cheapest_first if m is not first]
        chain = (first, *rest, *below)
    else:
        chain = tuple(below)
    return Route(chain, baseline, required, complexity)


def _price(m: ModelConfig) -> float:
    # a typical call reads about three times what it writes
    return 3 * m.input_price_per_mtok + m.output_price_per_mtok

"""The product's system prompts, loaded from salesflow/gateway/prompts/ (see prompt_files.py) at import.

A malformed prompt file stops the import, so a process that would register a broken prompt never starts.
"""

from __future__ import annotations

from salesflow.gateway.prompt_files import LANGUAGES, ProductPrompt, PromptFileError, load_prompts

__all__ = ["PRODUCT_PROMPTS", "ProductPrompt", "PromptFileError", "product_prompt"]

PRODUCT_PROMPTS: tuple[ProductPrompt, ...] = load_prompts()
_BY_NAME: dict[str, ProductPrompt] = {prompt.name: prompt for prompt in PRODUCT_PROMPTS}


def product_prompt(name: str, language: str) -> ProductPrompt:
    """The prompt `name` (without language suffix, e.g. "ai_coach") in `language` ("de" or "en").

    Raises ValueError naming the valid prompts or languages when either is unknown.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown prompt language {language!r}; use one of: {', '.join(LANGUAGES)}")
    prompt = _BY_NAME.get(f"{name}.{language}")
    if prompt is None:
        names = sorted({p.name.rsplit(".", 1)[0] for p in PRODUCT_PROMPTS})
        raise ValueError(f"unknown product prompt {name!r}; use one of: {', '.join(names)}")
    return prompt

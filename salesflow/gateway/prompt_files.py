"""The loader of the product's prompt files; `salesflow.gateway.product_prompts` loads them at import.

One file per prompt and language in `salesflow/gateway/prompts/`: `<prompt>.<lang>.md` holds TOML
front matter between `+++` lines (task, description, temperature, max_tokens and the `[variables]`
its `{{placeholders}}` need, each typed string|number|boolean|array|object|any), then the template.
A JSON prompt has `<prompt>.schema.json` beside it, the JSON Schema (draft 2020-12) its answer must
validate against, shared by its languages. A malformed file is one PromptFileError that names the
file and what is wrong.

The German texts are written for German readers, not translated: they address the model and the
customer with "Sie". Lead-derived values go in raw: the templates themselves put `<untrusted_data>`
tags around every variable that can carry lead or customer text, so the boundary does not depend
on the caller. The caller must not wrap those values a second time and must strip the tag text from
them, so that a lead cannot close the block from inside. Values the product or the rep sets
(`org_name`, `rep_name`, `goal`, `channel`, `purpose`, `score`) stand outside the tags.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from salesflow.gateway.config import TASKS

LANGUAGES = ("de", "en")
VARIABLE_TYPES = ("string", "number", "boolean", "array", "object", "any")
_FILE = re.compile(r"^(?P<base>[a-z][a-z0-9_]{0,90})\.(?:(?P<lang>[a-z]{2})\.md|(?P<tests>tests)\.json|schema\.json)$")
# the placeholder pattern of salesflow.create_prompt_version and render_prompt
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FRONT = re.compile(r"\A\+\+\+\n(?P<front>.*?)\n\+\+\+\n(?P<body>.*)\Z", re.DOTALL)
_KEYS = {"task", "description", "temperature", "max_tokens", "variables"}


class PromptFileError(ValueError):
    """A prompt or schema file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class ProductPrompt:
    """One prompt in one language, as `salesflow.create_prompt_version` takes it."""

    name: str  # registry name "<prompt>.<lang>", matching ^[a-z][a-z0-9_.-]{0,99}$
    task: str  # the gateway task type it serves
    language: str  # "de" | "en"
    description: str
    template: str  # the system prompt, with {{placeholders}}
    variables: Mapping[str, str] = field(hash=False)  # placeholder -> string|number|boolean|array|object|any
    model_config: Mapping[str, Any] = field(hash=False)  # temperature, max_tokens, response_format for JSON
    output_schema: Mapping[str, Any] | None = field(hash=False)  # JSON Schema of the answer, or None for free text


def _fail(name: str, problem: str) -> PromptFileError:
    return PromptFileError(f"prompt file {name}: {problem}")


def _schema(entry: Traversable) -> dict[str, Any]:
    try:
        schema = json.loads(entry.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(entry.name, f"not JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise _fail(entry.name, "a JSON Schema must be an object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise _fail(entry.name, f"not a valid JSON Schema: {exc.message}") from None
    return schema


def _number(name: str, key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(name, f"{key} must be a number from {low:g} to {high:g}, got {value!r}")
    return value


def _prompt(entry: Traversable, base: str, language: str, schema: Mapping[str, Any] | None) -> ProductPrompt:
    name = entry.name
    try:
        text = entry.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(name, "not UTF-8 text") from None
    match = _FRONT.match(text.replace("\r\n", "\n"))
    if match is None:
        raise _fail(name, "must start with TOML front matter between two '+++' lines, then the template")
    try:
        front = tomllib.loads(match["front"])
    except tomllib.TOMLDecodeError as exc:
        raise _fail(name, f"front matter is not TOML ({exc})") from None
    if set(front) != _KEYS:
        missing, unknown = sorted(_KEYS - set(front)), sorted(set(front) - _KEYS)
        raise _fail(name, f"front matter keys: missing {missing or 'none'}, unknown {unknown or 'none'}")
    task, description, variables = front["task"], front["description"], front["variables"]
    if task not in TASKS:
        raise _fail(name, f"task {task!r} is not one of {', '.join(TASKS)}")
    if not isinstance(description, str) or not description.strip():
        raise _fail(name, "description must be a non-empty string")
    if not isinstance(variables, dict) or any(v not in VARIABLE_TYPES for v in variables.values()):
        raise _fail(name, f"[variables] maps each placeholder to one of {', '.join(VARIABLE_TYPES)}")
    temperature = _number(name, "temperature", front["temperature"], 0, 2)
    max_tokens = front["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= 100_000:
        raise _fail(name, f"max_tokens must be a whole number from 1 to 100000, got {max_tokens!r}")
    template = match["body"].strip()
    if not template:
        raise _fail(name, "the template after the front matter is empty")
    used = set(_PLACEHOLDER.findall(template))
    if used != set(variables):
        raise _fail(name, f"placeholders {sorted(used)} do not match [variables] {sorted(variables)}")
    if "{{" in _PLACEHOLDER.sub("", template):
        raise _fail(name, "a '{{' that is not a {{placeholder}} would reach the model as it is")
    config: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
    if schema is not None:
        config["response_format"] = "json"
    return ProductPrompt(name=f"{base}.{language}", task=task, language=language, description=description.strip(),
                         template=template, variables=dict(variables), model_config=config, output_schema=schema)


def load_prompts(directory: Traversable | Path | None = None) -> tuple[ProductPrompt, ...]:
    """Every prompt of `directory` (default: the package's prompts/), sorted by name; PromptFileError if one is bad."""
    root = directory if directory is not None else resources.files("salesflow.gateway.prompts")
    entries = sorted((e for e in root.iterdir() if e.is_file()), key=lambda e: e.name)
    schemas: dict[str, dict[str, Any]] = {}
    prompts: list[tuple[Traversable, str, str]] = []
    for entry in entries:
        match = _FILE.match(entry.name)
        if match is None:
            raise _fail(entry.name, "expected <prompt>.<lang>.md, <prompt>.schema.json or <prompt>.tests.json "
                                    "(lower-case, _ between words)")
        if match["tests"]:
            continue  # test cases: load_prompt_tests
        if match["lang"] is None:
            schemas[match["base"]] = _schema(entry)
        elif match["lang"] not in LANGUAGES:
            raise _fail(entry.name, f"language {match['lang']!r} is not one of {', '.join(LANGUAGES)}")
        else:
            prompts.append((entry, match["base"], match["lang"]))
    orphans = sorted(set(schemas) - {base for _, base, _ in prompts})
    if orphans:
        raise _fail(f"{orphans[0]}.schema.json", "no prompt file of that name")
    if not prompts:
        raise PromptFileError(f"no prompt files in {root}")
    return tuple(_prompt(entry, base, lang, schemas.get(base)) for entry, base, lang in prompts)


@dataclass(frozen=True)
class PromptTestCase:
    """One shipped test case of a prompt, as `salesflow.save_prompt_test_case` takes it."""

    prompt: str  # registry name "<prompt>.<lang>"
    name: str
    message: str
    inputs: Mapping[str, Any] = field(hash=False)
    assertions: Mapping[str, Any] = field(hash=False)  # checked by salesflow.prompt_test_assertion_problems


_CASE_KEYS = {"name", "language", "message", "inputs", "assertions"}


def _cases(entry: Traversable, base: str, prompts: Mapping[str, ProductPrompt]) -> list[PromptTestCase]:
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(entry.name, f"not JSON ({exc})") from None
    if not isinstance(data, dict) or set(data) != {"cases"} or not isinstance(data["cases"], list):
        raise _fail(entry.name, 'must be {"cases": [...]}')
    out: list[PromptTestCase] = []
    for n, case in enumerate(data["cases"]):
        if not isinstance(case, dict) or set(case) != _CASE_KEYS:
            raise _fail(entry.name, f"case {n}: keys must be {sorted(_CASE_KEYS)}")
        prompt = prompts.get(f"{base}.{case['language']}")
        if prompt is None:
            raise _fail(entry.name, f"case {n}: no prompt {base}.{case['language']}")
        if not isinstance(case["inputs"], dict) or set(case["inputs"]) != set(prompt.variables):
            raise _fail(entry.name, f"case {n}: inputs must give exactly the variables {sorted(prompt.variables)}")
        if not isinstance(case["assertions"], dict) or not isinstance(case["message"], str):
            raise _fail(entry.name, f"case {n}: message is a string, assertions an object")
        out.append(PromptTestCase(prompt.name, str(case["name"]), case["message"], case["inputs"],
                                  case["assertions"]))
    names = [(c.prompt, c.name) for c in out]
    if len(set(names)) != len(names):
        raise _fail(entry.name, "case names repeat within a language")
    return out


def load_prompt_tests(directory: Traversable | Path | None = None) -> tuple[PromptTestCase, ...]:
    """Every shipped test case of `directory` (default: the package's prompts/); PromptFileError if one is bad."""
    root = directory if directory is not None else resources.files("salesflow.gateway.prompts")
    prompts = {p.name: p for p in load_prompts(root)}
    cases: list[PromptTestCase] = []
    for entry in sorted((e for e in root.iterdir() if e.is_file()), key=lambda e: e.name):
        match = _FILE.match(entry.name)
        if match is not None and match["tests"]:
            cases += _cases(entry, match["base"], prompts)
    return tuple(cases)


def render_prompt_file(*, task: str, description: str, variables: Mapping[str, str], temperature: float,
                       max_tokens: int, template: str) -> str:
    """The text of a `<prompt>.<lang>.md` file (scripts/convert_prompts.py writes them with this)."""
    # a JSON string is a valid TOML basic string (the same escapes)
    lines = ["+++", f"task = {json.dumps(task)}", f"description = {json.dumps(description, ensure_ascii=False)}",
             f"temperature = {float(temperature)!r}", f"max_tokens = {int(max_tokens)}", "", "[variables]"]
    lines += [f"{key} = {json.dumps(kind)}" for key, kind in variables.items()]
    return "\n".join([*lines, "+++", template.strip(), ""])


"""Prompts as data files (issue 9 section 6): the loader refuses a malformed file with one clear error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from salesflow.gateway.prompt_files import PromptFileError, load_prompts, render_prompt_file
from tests.conftest import ROOT

SHIPPED = ROOT / "salesflow" / "gateway" / "prompts"
GOOD = render_prompt_file(task="classify", description="Tiny test prompt.", variables={"lead": "object"},
                          temperature=0.2, max_tokens=50, template="Judge this:\n<untrusted_data>\n{{lead}}\n"
                          "</untrusted_data>")
SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
          "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}


def write(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    return tmp


def test_a_prompt_file_and_its_schema_load_into_a_prompt(tmp_path: Path) -> None:
    [prompt] = load_prompts(write(tmp_path, {"judge.en.md": GOOD, "judge.schema.json": json.dumps(SCHEMA)}))
    assert (prompt.name, prompt.task, prompt.language) == ("judge.en", "classify", "en")
    assert prompt.variables == {"lead": "object"} and prompt.output_schema == SCHEMA
    assert prompt.model_config == {"temperature": 0.2, "max_tokens": 50, "response_format": "json"}
    assert prompt.template.startswith("Judge this:") and prompt.template.endswith("</untrusted_data>")


@pytest.mark.parametrize(("files", "error"), [
    ({"judge.en.md": "no front matter"}, "judge.en.md: must start with TOML front matter"),
    ({"judge.en.md": GOOD.replace('task = "classify"', "task = classify")}, "judge.en.md: front matter is not TOML"),
    ({"judge.en.md": GOOD.replace('task = "classify"', 'task = "dance"')}, "task 'dance' is not one of"),
    ({"judge.en.md": GOOD.replace("max_tokens = 50", "max_tokens = 50\ncolour = 1")}, "unknown ['colour']"),
    ({"judge.en.md": GOOD.replace("max_tokens = 50\n", "")}, "missing ['max_tokens']"),
    ({"judge.en.md": GOOD.replace("temperature = 0.2", "temperature = 9.0")}, "temperature must be a number"),
    ({"judge.en.md": GOOD.replace('lead = "object"', 'lead = "blob"')}, "[variables] maps each placeholder"),
    ({"judge.en.md": GOOD.replace("{{lead}}", "{{lead}} {{score}}")}, "placeholders ['lead', 'score'] do not match"),
    ({"judge.en.md": GOOD.replace("Judge this:", "Judge {{ this:")}, "that is not a {{placeholder}}"),
    ({"judge.en.md": GOOD.split("+++\n")[0] + "+++\n" + GOOD.split("+++\n")[1] + "+++\n\n"}, "template"),
    ({"judge.fr.md": GOOD}, "language 'fr' is not one of"),
    ({"Judge.en.md": GOOD}, "expected <prompt>.<lang>.md"),
    ({"judge.en.md": GOOD, "judge.schema.json": "{not json"}, "judge.schema.json: not JSON"),
    ({"judge.en.md": GOOD, "judge.schema.json": '{"type": "wobbly"}'}, "judge.schema.json: not a valid JSON Schema"),
    ({"judge.en.md": GOOD, "other.schema.json": json.dumps(SCHEMA)}, "other.schema.json: no prompt file"),
])
def test_a_malformed_file_is_one_error_naming_the_file_and_the_problem(
    tmp_path: Path, files: dict[str, str], error: str
) -> None:
    with pytest.raises(PromptFileError) as refused:
        load_prompts(write(tmp_path, files))
    assert error in str(refused.value) and "\n" not in str(refused.value)


def test_a_bad_shipped_prompt_file_stops_the_import_with_its_name(tmp_path: Path) -> None:
    # the package's own loader, on a copy of the shipped files with one of them broken
    copy = tmp_path / "prompts"
    shutil.copytree(SHIPPED, copy)
    (copy / "ai_coach.de.md").write_text((copy / "ai_coach.de.md").read_text().replace("+++\n", "", 1))
    code = ("import sys; from pathlib import Path; from salesflow.gateway.prompt_files import load_prompts\n"
            f"load_prompts(Path({str(copy)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0 and "PromptFileError: prompt file ai_coach.de.md: must start with" in done.stderr


OLD_FORMAT = '''
from dataclasses import dataclass, field
from typing import Any, Mapping

@dataclass(frozen=True)
class ProductPrompt:
    name: str
    task: str
    language: str
    description: str
    template: str
    variables: Mapping[str, str] = field(hash=False)
    model_config: Mapping[str, Any] = field(hash=False)
    output_schema: Mapping[str, Any] | None = field(hash=False)

SCHEMA = {schema}
PRODUCT_PROMPTS = tuple(
    ProductPrompt(f"churn_alarm.{{lang}}", "classify", lang, f"Churn alarm ({{lang}}).",
                  "Assess the risk: <untrusted_data>{{{{history}}}}</untrusted_data>", {{"history": "string"}},
                  {{"temperature": 0.1, "max_tokens": 300, "response_format": "json"}}, SCHEMA)
    for lang in ("de", "en"))
'''


def test_the_converter_turns_an_old_format_prompt_into_files_the_loader_accepts(tmp_path: Path) -> None:
    old = tmp_path / "old_product_prompts.py"
    old.write_text(OLD_FORMAT.format(schema=repr(SCHEMA)))
    out = tmp_path / "prompts"
    shutil.copytree(SHIPPED, out)
    done = subprocess.run([sys.executable, "scripts/convert_prompts.py", str(old), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("churn_alarm.*")) == [
        "churn_alarm.de.md", "churn_alarm.en.md", "churn_alarm.schema.json"]
    loaded = {p.name: p for p in load_prompts(out)}
    assert loaded["churn_alarm.en"].output_schema == SCHEMA
    assert loaded["churn_alarm.de"].model_config == {"temperature": 0.1, "max_tokens": 300, "response_format": "json"}
    # run again on a file someone edited since: left alone and reported, not overwritten
    (out / "churn_alarm.en.md").write_text(GOOD)
    again = subprocess.run([sys.executable, "scripts/convert_prompts.py", str(old), "--out", str(out)],
                           capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 1 and "differs, left alone" in again.stdout
    assert (out / "churn_alarm.en.md").read_text() == GOOD

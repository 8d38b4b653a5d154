"""Convert product prompts from the old format (a Python module with PRODUCT_PROMPTS) into data files.

    .venv/bin/python scripts/convert_prompts.py OLD_MODULE.py [--out salesflow/gateway/prompts] [--force]

OLD_MODULE.py is a copy of the former salesflow/gateway/product_prompts.py (for example taken from
another branch with `git show BRANCH:salesflow/gateway/product_prompts.py > /tmp/old.py`). Every
prompt in its PRODUCT_PROMPTS becomes `<name>.<lang>.md` (TOML front matter between `+++` lines,
then the template) and, for JSON prompts, `<name>.schema.json`. Files already present are left
alone unless --force; a present file whose content would differ is reported, so a merge never
silently overwrites an edited prompt. The written files are loaded back with the real loader.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from salesflow.gateway.prompt_files import PromptFileError, load_prompts, render_prompt_file  # noqa: E402


def _old_prompts(path: Path) -> list[Any]:
    spec = importlib.util.spec_from_file_location("old_product_prompts", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"convert_prompts: error: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return list(module.PRODUCT_PROMPTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_module", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "salesflow" / "gateway" / "prompts")
    parser.add_argument("--force", action="store_true", help="overwrite files that differ")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    files: dict[Path, str] = {}
    for p in _old_prompts(args.old_module):
        files[args.out / f"{p.name}.md"] = render_prompt_file(
            task=p.task, description=p.description, variables=dict(p.variables),
            temperature=p.model_config["temperature"], max_tokens=p.model_config["max_tokens"], template=p.template)
        if p.output_schema is not None:
            base = p.name.rsplit(".", 1)[0]
            schema = json.dumps(p.output_schema, indent=2, ensure_ascii=False) + "\n"
            path = args.out / f"{base}.schema.json"
            if files.get(path, schema) != schema:
                raise SystemExit(f"convert_prompts: error: the languages of {base} have different schemas")
            files[path] = schema
    written = differ = 0
    for path, text in sorted(files.items()):
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if path.exists() and not args.force:
            print(f"differs, left alone (use --force): {path}")
            differ += 1
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
        written += 1
    try:
        loaded = load_prompts(args.out)
    except PromptFileError as exc:
        raise SystemExit(f"convert_prompts: error: {exc}") from None
    print(f"{written} file(s) written, {differ} differing left alone; {len(loaded)} prompts load from {args.out}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())

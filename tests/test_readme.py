"""The README stands alone: every file it names is in the repository (it once pointed at a DESIGN.md that is not)."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_the_readme_names_only_files_the_repository_has() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    documents = set(re.findall(r"\b[\w./-]+\.md\b", text)) - {"README.md"}
    missing = sorted(d for d in documents if not (ROOT / d).exists())
    assert not missing, f"the README points at files that are not in the repository: {missing}"
    assert "DESIGN" not in text

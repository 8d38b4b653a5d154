"""One AI package (issue 9 section 6): the API and the gateway never import the worker's modules."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_the_api_and_the_gateway_load_no_worker_module() -> None:
    code = ("import json, sys\n"
            "import salesflow.api.app, salesflow.gateway.core, salesflow.gateway.embedders, salesflow.gateway.tokens\n"
            "import salesflow.gateway.product_prompts, salesflow.db.queries\n"
            "salesflow.db.queries.registry()  # reading the worker's .sql files imports none of its modules\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('salesflow.'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = json.loads(done.stdout)
    assert "salesflow.api.search" in loaded and "salesflow.gateway.embedders" in loaded
    assert [m for m in loaded if m.startswith("salesflow.functions.")] == []

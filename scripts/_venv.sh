# Sourced by scripts/up and scripts/test: a virtual environment of the project's own in .venv,
# (re)installed only when pyproject.toml or the wanted extras changed. pip's wheel cache is reused.
set -euo pipefail
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "salesflow: error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
want="$(sha256sum pyproject.toml | cut -c1-16)-${SALESFLOW_EXTRAS:-none}"
if [ "$(cat .venv/.salesflow-installed 2>/dev/null)" != "$want" ]; then
    spec="."
    [ -n "${SALESFLOW_EXTRAS:-}" ] && spec=".[${SALESFLOW_EXTRAS}]"
    echo "installing SalesFlow into .venv ($spec) ..." >&2
    case "${SALESFLOW_EXTRAS:-}" in
        *up*|*local*|*test*)
            if ! find "${PIP_CACHE_DIR:-$HOME/.cache/pip}/wheels" -name 'llama_cpp_python-*.whl' 2>/dev/null | grep -q .; then
                echo "  the first install compiles llama.cpp for the offline model (llama-cpp-python): 5-12 minutes" >&2
                echo "  on 2 cores, once; pip keeps the built wheel, so later installs take seconds" >&2
            fi ;;
    esac
    # build chatter goes to a log, shown only if the install fails
    if ! { .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
           && .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"; } \
           > .venv/install.log 2>&1; then
        cat .venv/install.log >&2
        echo "salesflow: error: installing into .venv failed (log above, also in .venv/install.log)" >&2
        exit 1
    fi
    echo "$want" > .venv/.salesflow-installed
fi

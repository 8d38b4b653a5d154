"""Add to supabase/migrations what sql/ changed, refresh supabase/seed.sql (or, with --check, fail if stale).

Append-only: an emitted migration file is never renamed, edited or deleted (see salesflow/supabase_export.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from salesflow.supabase_export import ExportError, stale_files, write

ROOT = Path(__file__).resolve().parents[1] / "supabase"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if supabase/ is not what sql/ generates")
    args = parser.parse_args()
    if args.check:
        stale = stale_files(ROOT)
        if stale:
            print(f"supabase/ is stale ({', '.join(stale)}); run: python scripts/gen_supabase.py", file=sys.stderr)
            return 1
        print("supabase/ is up to date")
        return 0
    try:
        changed = write(ROOT)
    except ExportError as exc:
        print(f"gen_supabase: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(changed)} changed file(s): {', '.join(changed)}" if changed else "supabase/ was up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

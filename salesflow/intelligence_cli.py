"""`salesflow import leads` and `salesflow scoring train|card`: lead intelligence from the command line.

The CLI connects with the installation's database URL (as psql does); the work itself is the same
`api` RPCs an app calls. An import runs in one transaction: every batch is checked, bad rows are
collected with their line numbers, and nothing stays unless every row was good.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg.types.json import Jsonb

BATCH = 5000
MAX_ERRORS_SHOWN = 20


class InputError(Exception):
    """A one-line message for the user."""


def _progress(out: TextIO, done: int, total: int, started: float) -> None:
    """A plain progress line on stderr, redrawn in place (no dependency)."""
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-6)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows  {rate:,.0f} rows/s")
    out.flush()


def read_csv(path: Path) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Rows of a CSV file (delimiter sniffed among , ; tab |) and rows unreadable before the database."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 (byte {exc.start}); save it as UTF-8 and retry") from None
    first = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t", "|"], key=first.count)
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path} is empty") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or any(not h for h in header):
        raise InputError(f"{path}: the header has empty or repeated column names")
    rows: list[dict[str, str]] = []
    bad: list[dict[str, Any]] = []
    for line, values in enumerate(reader, start=2):
        if not values:
            continue
        if len(values) != len(header):
            bad.append({"line": line, "reason": f"{len(values)} values for {len(header)} columns"})
            rows.append({})
            continue
        if any("\x00" in v for v in values):
            bad.append({"line": line, "reason": "contains a NUL character"})
            rows.append({})
            continue
        rows.append(dict(zip(header, values, strict=True)))
    return rows, bad


def parse_map(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        column, sep, field = pair.partition("=")
        if not sep or not column or not field:
            raise InputError(f"--map {pair!r}: write column=field")
        out[column.strip()] = field.strip()
    return out


def resolve_org(conn: psycopg.Connection, org: str) -> str:
    row = conn.execute("select id::text from salesflow.organizations where id::text = %s or slug = %s",
                       (org, org)).fetchone()
    if row is None:
        raise InputError(f"organisation {org!r} not found (give its id or slug)")
    return row[0]


def import_leads(url: str, path: Path, org: str, field_map: dict[str, str], outcome: str | None,
                 outcome_date: str | None, dry_run: bool, err: TextIO = sys.stderr) -> dict[str, Any]:
    """Import a CSV file in one transaction; raises InputError listing bad rows (nothing stored)."""
    rows, bad = read_csv(path)
    totals = {"rows": 0, "inserted": 0, "updated": 0, "outcomes": 0}
    started = time.monotonic()
    show = len(rows) > BATCH
    with psycopg.connect(url) as conn:
        org_id = resolve_org(conn, org)
        attributes: dict[str, str] = {}
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            # rows unreadable in Python keep their line numbers as empty objects; their errors are known
            report = conn.execute(
                "select api.import_leads(%s, %s, %s, %s, %s, dry_run => %s, first_line => %s, raise_on_error => false)",
                (org_id, Jsonb(batch), Jsonb(field_map), outcome, outcome_date, dry_run, start + 2),
            ).fetchone()[0]
            known_bad = {b["line"] for b in bad}
            bad.extend(e for e in report["errors"] if e["line"] not in known_bad)
            for k in totals:
                totals[k] += report[k] if k != "rows" else len(batch)
            attributes.update(report["attributes"])
            if show:
                _progress(err, min(start + BATCH, len(rows)), len(rows), started)
        if show:
            err.write("\n")
        if bad:
            conn.rollback()
            bad.sort(key=lambda b: b["line"])
            lines = "\n".join(f"  line {b['line']}: {b['reason']}" for b in bad[:MAX_ERRORS_SHOWN])
            more = f"\n  ... and {len(bad) - MAX_ERRORS_SHOWN} more" if len(bad) > MAX_ERRORS_SHOWN else ""
            raise InputError(f"{len(bad)} bad row(s) in {path}; nothing was imported\n{lines}{more}")
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    return {**totals, "attributes": attributes, "dry_run": dry_run, "seconds": round(time.monotonic() - started, 2)}


def cmd_import(args: argparse.Namespace, url: str) -> int:
    report = import_leads(url, Path(args.file), args.org, parse_map(args.map), args.outcome, args.outcome_date,
                          args.dry_run)
    verb = "would import" if report["dry_run"] else "imported"
    print(f"{verb} {report['rows']} rows: {report['inserted']} new, {report['updated']} updated, "
          f"{report['outcomes']} outcomes; attributes {json.dumps(report['attributes'])}")
    return 0


def cmd_scoring(args: argparse.Namespace, url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        org_id = resolve_org(conn, args.org)
        if args.action == "train":
            from salesflow.functions.scoring import train_org

            result = train_org(conn, org_id)
            print(json.dumps(result, indent=2, default=str))
        elif args.action == "card":
            from salesflow.functions.scoring import card_markdown

            row = conn.execute("select salesflow.model_card(%s, %s)", (org_id, args.model)).fetchone()
            if row is None or row[0] is None:
                raise InputError("no scoring model for this organisation yet; run `salesflow scoring train`")
            print(card_markdown(row[0]))
        elif args.action == "rollback":
            row = conn.execute("select salesflow.rollback_scoring_model(%s)", (org_id,)).fetchone()
            print(json.dumps(row[0]))
    return 0


def add_parsers(sub: Any, open_database: Any, cli_error: type[Exception]) -> None:
    """Register `import` and `scoring` on the main parser (open_database and CliError from salesflow.cli)."""

    def run(handler: Any) -> Any:
        def call(args: argparse.Namespace, settings: Any) -> int:
            try:
                return handler(args, open_database(settings).url)
            except InputError as exc:
                raise cli_error(str(exc)) from None
            except psycopg.Error as exc:
                first = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
                raise cli_error(first) from None
        return call

    imp = sub.add_parser("import", help="import data: leads FILE.csv --org ORG")
    what = imp.add_subparsers(dest="what", required=True)
    leads = what.add_parser("leads", help="leads from a CSV file, all or nothing")
    leads.add_argument("file")
    leads.add_argument("--org", required=True, help="organisation id or slug")
    leads.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD",
                       help="map a column to a lead field (first_name, email, external_key, company, ...)")
    leads.add_argument("--outcome", help="column with the historical result (yes/no; empty = open)")
    leads.add_argument("--outcome-date", help="column with the date of that result (YYYY-MM-DD)")
    leads.add_argument("--dry-run", action="store_true", help="check and count, store nothing")
    leads.set_defaults(func=run(cmd_import))
    scoring = sub.add_parser("scoring", help="the conversion model: train|card|rollback --org ORG")
    scoring.add_argument("action", choices=["train", "card", "rollback"])
    scoring.add_argument("--org", required=True, help="organisation id or slug")
    scoring.add_argument("--model", help="card: model id (default: the active or latest)")
    scoring.set_defaults(func=run(cmd_scoring))

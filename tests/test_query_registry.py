"""The one named-query registry (issue 9 section 6): one loader, one namespace, duplicates refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from salesflow.db import queries
from salesflow.db.queries import QueryRegistryError, build_registry, parse_queries, query

ROOT = Path(__file__).resolve().parent.parent
CODE = [p for d in ("salesflow", "api", "functions", "scripts") for p in (ROOT / d).rglob("*.py")]


def test_a_name_defined_in_two_files_is_an_error_naming_both() -> None:
    files = [("a/queries.sql", "-- name: one\nselect 1;\n"),
             ("b/more.sql", "-- name: two\nselect 2;\n-- name: one\nselect 3;\n")]
    with pytest.raises(QueryRegistryError, match=r"'one' is defined twice: in a/queries.sql and in b/more.sql"):
        build_registry(files)


def test_a_name_defined_twice_in_one_file_is_an_error() -> None:
    with pytest.raises(QueryRegistryError, match="defined twice"):
        build_registry([("x.sql", "-- name: same\nselect 1;\n-- name: same\nselect 2;\n")])


@pytest.mark.parametrize(("text", "reason"), [
    ("-- name: Bad-Name\nselect 1;\n", "must be lower-case"),
    ("-- name: empty\n\n-- name: next\nselect 1;\n", "has no SQL"),
])
def test_malformed_query_files_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(QueryRegistryError, match=reason):
        parse_queries(text, "x.sql")


def test_every_package_file_is_registered_the_same_way() -> None:
    sources = {q.source.split("/")[0] for q in queries.registry().values()}
    assert sources == set(queries.QUERY_PACKAGES)
    # the worker's, the scoring trainer's and the embedding pipeline's files are all in it
    files = {q.source for q in queries.registry().values()}
    assert {"salesflow.functions/queries.sql", "salesflow.functions/scoring_queries.sql",
            "salesflow.functions/embedding_queries.sql"} <= files


def test_every_query_the_code_names_exists() -> None:
    named = {m for p in CODE for m in re.findall(r'\bquery\("(\w+)"\)', p.read_text())}
    assert len(named) > 50  # the pattern still matches how the code calls the registry
    missing = sorted(n for n in named if n not in queries.registry())
    assert missing == []


def test_an_unknown_name_says_where_it_looked() -> None:
    with pytest.raises(KeyError, match="no query named 'no_such_query'"):
        query("no_such_query")


def test_no_other_loader_is_left() -> None:
    loaders = [p.relative_to(ROOT).as_posix() for p in CODE
               if p.name != "queries.py" and re.search(r"parse_queries\(|queries\.sql\"\)", p.read_text())]
    assert loaders == []

"""The chat's named queries, from queries.sql beside this module."""

from __future__ import annotations

from importlib import resources

from salesflow.db.queries import parse_queries

QUERIES = parse_queries(resources.files("salesflow.assistant").joinpath("queries.sql").read_text())

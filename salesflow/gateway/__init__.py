"""The AI gateway: a library the worker and the API call providers through (DESIGN.md decision 6)."""

from __future__ import annotations

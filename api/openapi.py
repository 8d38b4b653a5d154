"""GET /rest/v1/: an OpenAPI 3.0 description of the RPCs, the way PostgREST describes a schema.

JSON types and formats for PostgreSQL types, enums from the database's enum types, return shapes
from row types (setof: an array of them), descriptions from COMMENT ON. Built from the catalog the
gateway already holds; nothing is read from the database per request.
"""

from __future__ import annotations

from typing import Any

from salesflow.api.catalog import Catalog, Function

_SCALARS: dict[str, dict[str, Any]] = {
    "uuid": {"type": "string", "format": "uuid"},
    "text": {"type": "string"}, "character varying": {"type": "string"}, "character": {"type": "string"},
    "citext": {"type": "string"}, "name": {"type": "string"},
    "timestamp with time zone": {"type": "string", "format": "date-time"},
    "timestamp without time zone": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "time without time zone": {"type": "string", "format": "time"},
    "interval": {"type": "string", "format": "interval"},
    "smallint": {"type": "integer", "format": "int32", "minimum": -32768, "maximum": 32767},
    "integer": {"type": "integer", "format": "int32", "minimum": -2147483648, "maximum": 2147483647},
    "bigint": {"type": "integer", "format": "int64"},
    "numeric": {"type": "number"}, "real": {"type": "number", "format": "float"},
    "double precision": {"type": "number", "format": "double"},
    "boolean": {"type": "boolean"},
    "json": {}, "jsonb": {},  # any JSON value
    "bytea": {"type": "string", "format": "byte"},
    "vector": {"type": "string", "format": "vector", "description": "pgvector text form, e.g. [0.1,0.2]"},
}


def type_schema(pg_type: str, catalog: Catalog, *, depth: int = 0) -> dict[str, Any]:
    """The JSON schema of a value of `pg_type` (a pg_catalog.format_type name)."""
    if pg_type.endswith("[]"):
        return {"type": "array", "items": type_schema(pg_type[:-2], catalog, depth=depth)}
    base = pg_type.split("(", 1)[0]
    if base in _SCALARS:
        return dict(_SCALARS[base])
    labels = catalog.enums.get(pg_type)
    if labels is not None:
        return {"type": "string", "enum": list(labels), "format": pg_type}
    columns = catalog.row_types.get(pg_type)
    if columns is not None and depth < 2:
        properties = {}
        for col in columns:
            schema = type_schema(col["type"], catalog, depth=depth + 1)
            if col["description"]:
                schema["description"] = col["description"]
            properties[col["name"]] = schema
        out: dict[str, Any] = {"type": "object", "properties": properties, "format": pg_type}
        return out
    if pg_type in ("record", "void"):
        return {"type": "object"}
    return {"type": "string", "format": pg_type}


def _operation(fn: Function, catalog: Catalog) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "object", "additionalProperties": False,
        "properties": {p.name: type_schema(p.type, catalog) for p in fn.params},
    }
    required = [p.name for p in fn.params if p.required]
    if required:
        body["required"] = required  # OpenAPI 3.0 refuses an empty list
    if fn.returns_void:
        result: dict[str, Any] = {"nullable": True}
    elif fn.returns_set:
        result = {"type": "array", "items": type_schema(fn.return_type, catalog)}
    else:
        result = {**type_schema(fn.return_type, catalog), "nullable": True}
    summary, _, rest = (fn.description or "").partition("\n")
    op: dict[str, Any] = {
        "tags": ["(rpc) " + fn.name],
        "operationId": fn.name,
        "requestBody": {"required": bool(required), "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": result}}},
            "default": {"description": "PostgREST's error shape",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    if summary:
        op["summary"] = summary
    if rest.strip():
        op["description"] = rest.strip()
    return op


def document(catalog: Catalog) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for fn in sorted(catalog.all(), key=lambda f: (f.name, len(f.params))):
        # overloads share a path; PostgREST resolves by argument names, so one operation describes them
        paths.setdefault(f"/rpc/{fn.name}", {"post": _operation(fn, catalog)})
    error = {"type": "object", "properties": {k: {"type": "string", "nullable": True}
                                              for k in ("code", "message", "details", "hint")}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "SalesFlow RPC", "version": "1",
                 "description": "PostgREST-compatible RPCs of the api schema; call with a bearer JWT."},
        "servers": [{"url": "/rest/v1"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": error},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    }

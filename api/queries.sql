-- Queries the gateway runs, by name.

-- name: rpc_catalog
-- Every function in the exposed schema with what the gateway needs to call it by named arguments.
select
    p.oid::bigint as oid,
    p.proname as name,
    p.proretset as returns_set,
    p.provolatile as volatility,
    p.pronargdefaults as n_defaults,
    p.prorettype = 'void'::regtype as returns_void,
    pg_catalog.format_type(p.prorettype, null) as return_type,
    coalesce(p.proargnames, '{}') as arg_names,
    coalesce(p.proargmodes::text[], '{}') as arg_modes,
    array(
        select pg_catalog.format_type(t.oid, null)
        from unnest(p.proargtypes) with ordinality as a (typ, n)
        join pg_catalog.pg_type as t on t.oid = a.typ
        order by a.n
    ) as in_types,
    pg_catalog.obj_description(p.oid, 'pg_proc') as description
from pg_catalog.pg_proc as p
join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
where n.nspname = %(schema)s and p.prokind = 'f'
order by p.proname, p.oid;

-- name: set_request_context
-- What PostgREST sets for every request, transaction-local (pipelined with the call: one round trip).
select
    pg_catalog.set_config('role', %(role)s, true),
    pg_catalog.set_config('request.jwt.claims', %(claims)s, true),
    pg_catalog.set_config('request.method', %(method)s, true),
    pg_catalog.set_config('request.path', %(path)s, true),
    pg_catalog.set_config('request.headers', %(headers)s, true),
    pg_catalog.set_config('statement_timeout', %(statement_timeout)s, true),
    pg_catalog.set_config('transaction_read_only', %(read_only)s, true);

-- name: active_embedding_model
select m.name, m.dimension from salesflow.embedding_models as m where m.state = 'active';

-- name: openapi_enums
-- Enum types by their format_type name, with their labels in order (the OpenAPI document's enums).
select pg_catalog.format_type(t.oid, null) as name, array_agg(e.enumlabel::text order by e.enumsortorder) as labels
from pg_catalog.pg_type as t
join pg_catalog.pg_enum as e on e.enumtypid = t.oid
group by t.oid;

-- name: openapi_row_types
-- Columns of the row types RPCs may return (tables, views, composite types), with their comments.
select
    pg_catalog.format_type(c.reltype, null) as type_name,
    a.attname as name,
    pg_catalog.format_type(a.atttypid, null) as type,
    a.attnotnull as not_null,
    pg_catalog.col_description(c.oid, a.attnum) as description
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname in ('api', 'salesflow') and c.relkind in ('r', 'v', 'c', 'p', 'm')
order by c.oid, a.attnum;

-- The API contract apart from the tables (DESIGN.md decision 11). What an RPC returns is declared
-- in `api`, as a security_invoker view naming its columns one by one, so a column added to a table
-- for internal use (a score, a decay field, an erasure flag) changes no API output until a view
-- names it. The views are row types for the RPCs: no role is granted them, so nothing is exposed
-- by them appearing in `api`; a client reads rows through the RPCs, where RLS decides.

-- `create or replace function` cannot change a function's result type. An object file that
-- changes one calls this first: it drops the function only when its result differs from the one
-- about to be created, so re-applying the objects is idempotent and a fresh database untouched.
create or replace function salesflow.drop_function_if_result_differs(signature text, result text)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    fn regprocedure := pg_catalog.to_regprocedure(drop_function_if_result_differs.signature);
begin
    -- search_path is empty here, so pg_get_function_result qualifies every type name
    if fn is null or pg_catalog.pg_get_function_result(fn) = drop_function_if_result_differs.result then
        return false;
    end if;
    execute pg_catalog.format('drop function %s', fn);
    return true;
end
$$;
comment on function salesflow.drop_function_if_result_differs(text, text) is
'Drop the function `signature` when its result type is not `result` (objects pipeline: a changed return type).';
revoke execute on function salesflow.drop_function_if_result_differs(text, text) from public;

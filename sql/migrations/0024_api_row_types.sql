-- 0024: the API contract apart from the tables, continued (issue 9; DESIGN.md decision 11). The row
-- type of a memory search hit is part of what api.search_memory returns, so it lives in `api`
-- beside the other row types of the RPCs (sql/objects/14_api_row_types.sql), not among the tables'
-- internals. Moving the type keeps its oid: the function returning it and its grants follow.
-- Run once.

alter type salesflow.memory_hit set schema api;

-- 0034: the cost of real-time scoring and of imports (issue 11). api.import_leads matches a batch's
-- companies by name in one join (case-insensitive, as before): this index serves it, and any
-- look-up of an organisation's company by name.
-- Run once. The functions live in sql/objects/70_lead_import.sql and 71_scoring.sql.

create index companies_name_idx on salesflow.companies (org_id, lower(name));

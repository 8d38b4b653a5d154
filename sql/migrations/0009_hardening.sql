-- 0009: what Supabase's linter (splinter) found on the migrated schema: foreign keys without a
-- covering index (a delete of the referenced row scans the whole referencing table, under lock),
-- and a table without a primary key (logical replication and Supabase's table editor need one).
-- Run once. The triggers of this hardening live in sql/objects/21_integrity.sql.

-- deleting a lead cascades to its conversations
create index conversations_lead_idx on salesflow.conversations (org_id, lead_id) where lead_id is not null;
-- deleting a company sets its deals' company_id to null
create index deals_company_idx on salesflow.deals (org_id, company_id) where company_id is not null;
-- retiring an embedding model deletes its vectors; the key is global, as embedding_models is
create index embeddings_model_idx on salesflow.embeddings (model);
-- deleting a prompt version cascades to the labels that point at it
create index prompt_labels_version_idx on salesflow.prompt_labels (org_id, prompt_id, version);

-- The rollup's natural key has a nullable user_id (calls without a user), which a primary key
-- cannot hold: a surrogate key, while the unique index (nulls not distinct) stays the upsert target.
-- (led by org_id, as every tenant key is).
alter table salesflow.llm_usage_daily add column id bigint generated always as identity;
alter table salesflow.llm_usage_daily add primary key (org_id, id);

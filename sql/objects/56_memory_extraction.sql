-- Memory extraction by the worker (the extract_memory job, functions/handlers/extract_memory.py):
-- facts the model or the offline rules found, each through api.record_memory_fact, so the same
-- evidence check applies (the quote must occur in the cited message) and the same validity rules
-- (a later fact on the same key closes the earlier one).

-- Record one extracted fact; null when it is refused (no evidence in the cited message, or the
-- message is gone). The same fact from the same message again returns the stored one (a job
-- delivered twice stores nothing twice).
create or replace function salesflow.record_extracted_fact(
    org_id uuid,
    lead_id uuid,
    category salesflow.fact_category,
    fact text,
    message_id uuid,
    quote text,
    confidence real,
    fact_key text,
    extracted_by text,
    request_id bigint default null
)
returns uuid
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    known uuid;
    r api.memory_facts;
begin
    select f.id into known
    from salesflow.memory_facts as f
    where f.org_id = record_extracted_fact.org_id and f.lead_id = record_extracted_fact.lead_id
      and f.message_id = record_extracted_fact.message_id and f.fact_key = record_extracted_fact.fact_key
      and salesflow.evidence_text(f.fact) = salesflow.evidence_text(record_extracted_fact.fact)
    limit 1;
    if known is not null then
        return known;
    end if;
    begin
        r := api.record_memory_fact(
            record_extracted_fact.org_id, record_extracted_fact.lead_id, record_extracted_fact.category,
            pg_catalog.left(record_extracted_fact.fact, 1000), record_extracted_fact.message_id,
            pg_catalog.left(record_extracted_fact.quote, 500),
            least(greatest(record_extracted_fact.confidence, 0), 1)::real, record_extracted_fact.fact_key
        );
    exception
        when sqlstate '22023' or sqlstate 'PT404' then
            return null;  -- no evidence in the message, or the message (or its lead) is gone
    end;
    update salesflow.memory_facts as f
    set extracted_by = record_extracted_fact.extracted_by, request_id = record_extracted_fact.request_id
    where f.org_id = r.org_id and f.id = r.id;
    return r.id;
end
$$;
comment on function salesflow.record_extracted_fact(
    uuid, uuid, salesflow.fact_category, text, uuid, text, real, text, text, bigint
) is
'Record a fact the extract_memory job found (through api.record_memory_fact); null when refused for lack of evidence.';

-- Move the extraction cursor past the messages a run read; only forward, so a late second
-- delivery of an older run does not move it back.
create or replace function salesflow.advance_facts_cursor(
    org_id uuid, lead_id uuid, read_until timestamptz, read_message_id uuid, n integer
)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
    update salesflow.conversation_summaries as s
    set facts_until = advance_facts_cursor.read_until, facts_message_id = advance_facts_cursor.read_message_id,
        facts_pending = greatest(s.facts_pending - advance_facts_cursor.n, 0)
    where s.org_id = advance_facts_cursor.org_id and s.lead_id = advance_facts_cursor.lead_id
      and (s.facts_until is null or (s.facts_until, s.facts_message_id)
           < (advance_facts_cursor.read_until, advance_facts_cursor.read_message_id))
$$;
comment on function salesflow.advance_facts_cursor(uuid, uuid, timestamptz, uuid, integer) is
'Mark a lead''s messages up to (read_until, read_message_id) as read for facts.';

revoke execute on function salesflow.record_extracted_fact(
    uuid, uuid, salesflow.fact_category, text, uuid, text, real, text, text, bigint
) from public;
revoke execute on function salesflow.advance_facts_cursor(uuid, uuid, timestamptz, uuid, integer) from public;

-- Merging leads (api.merge_leads): the merged lead's rolling summary is returned for the merge
-- record, and the kept lead's summary gets the moved messages as pending (its next extension and
-- fact extraction read them). security definer, because members read summaries but never write them.
create or replace function salesflow.merge_summaries(org_id uuid, from_id uuid, to_id uuid, moved_messages integer)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    kept jsonb;
begin
    if not (merge_summaries.org_id = any(salesflow.my_org_ids('{owner,admin}'))) then
        raise sqlstate '42501' using message = 'only owners and admins merge leads';
    end if;
    select pg_catalog.to_jsonb(cs) into kept from salesflow.conversation_summaries as cs
    where cs.org_id = merge_summaries.org_id and cs.lead_id = merge_summaries.from_id;
    update salesflow.conversation_summaries as cs
    set pending_messages = cs.pending_messages + merge_summaries.moved_messages,
        facts_pending = cs.facts_pending + merge_summaries.moved_messages
    where cs.org_id = merge_summaries.org_id and cs.lead_id = merge_summaries.to_id;
    return kept;
end
$$;
comment on function salesflow.merge_summaries(uuid, uuid, uuid, integer) is
'security definer, justified: merge_leads (owners, admins) must read and bump summaries that members cannot write; '
'returns the merged lead''s summary for the merge record.';

-- Undoing a merge: the merged lead's summary as the merge record kept it.
create or replace function salesflow.restore_summary(org_id uuid, lead_id uuid, summary jsonb)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if not (restore_summary.org_id = any(salesflow.my_org_ids('{owner,admin}'))) then
        raise sqlstate '42501' using message = 'only owners and admins undo merges';
    end if;
    if pg_catalog.jsonb_typeof(restore_summary.summary) <> 'object'
       or (restore_summary.summary ->> 'lead_id')::uuid is distinct from restore_summary.lead_id
       or (restore_summary.summary ->> 'org_id')::uuid is distinct from restore_summary.org_id then
        return;
    end if;
    insert into salesflow.conversation_summaries
    select (pg_catalog.jsonb_populate_record(null::salesflow.conversation_summaries, restore_summary.summary)).*
    on conflict on constraint conversation_summaries_pkey do nothing;
end
$$;
comment on function salesflow.restore_summary(uuid, uuid, jsonb) is
'security definer, justified: undo_merge (owners, admins) restores a summary members cannot write; only the '
'summary of the given lead in the given organisation.';

revoke execute on function salesflow.merge_summaries(uuid, uuid, uuid, integer) from public;
revoke execute on function salesflow.restore_summary(uuid, uuid, jsonb) from public;
grant execute on function salesflow.merge_summaries(uuid, uuid, uuid, integer) to authenticated, service_role;
grant execute on function salesflow.restore_summary(uuid, uuid, jsonb) to authenticated, service_role;

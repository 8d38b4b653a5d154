-- GDPR: erasure (a job that reaches every store the personal-data catalogue lists), export,
-- consent and opt-out by message, retention, and the organisation's privacy settings.

create or replace function api.erase_lead(org_id uuid, lead_id uuid, reason text)
returns api.erasure_requests
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    lead salesflow.leads := salesflow.visible_lead(erase_lead.org_id, erase_lead.lead_id);
    r salesflow.erasure_requests;
begin
    if nullif(pg_catalog.btrim(erase_lead.reason), '') is null then
        raise sqlstate '22023' using message = 'an erasure needs a reason (e.g. "art. 17 request of 2026-12-01")';
    end if;
    -- the insert policy lets owners and admins only
    insert into salesflow.erasure_requests as e (org_id, lead_id, lead_hash, reason_sha256, requested_by)
    values (
        lead.org_id, lead.id, salesflow.identifier_hash('lead:' || lead.id::text),
        pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(erase_lead.reason, 'UTF8')), 'hex'),
        (select auth.uid())
    )
    on conflict (org_id, lead_id) where status = 'pending' do nothing
    returning e.* into r;
    if r.id is null then
        -- requested already and not done yet: the same request
        select e.* into r from salesflow.erasure_requests as e
        where e.org_id = lead.org_id and e.lead_id = lead.id and e.status = 'pending';
    end if;
    return salesflow.api_erasure_request(r);
end
$$;
comment on function api.erase_lead(uuid, uuid, text) is
'Erase a person (owners and admins; GDPR art. 17). A job removes the lead from every store the personal-data '
'catalogue lists and puts their identifiers on the suppression list; the returned record keeps only its id, '
'hashes and, when done, per-table counts. Asking again while it runs returns the same request.';

create or replace function api.get_erasure_request(org_id uuid, erasure_id uuid)
returns api.erasure_requests
language plpgsql
stable
set search_path = ''
as $$
declare
    r salesflow.erasure_requests;
begin
    select e.* into r from salesflow.erasure_requests as e
    where e.org_id = get_erasure_request.org_id and e.id = get_erasure_request.erasure_id;
    if r.id is null then
        perform salesflow.not_found('erasure request', get_erasure_request.erasure_id);
    end if;
    return salesflow.api_erasure_request(r);
end
$$;
comment on function api.get_erasure_request(uuid, uuid) is
'An erasure request: pending, or done with the number of rows removed per table.';

create or replace function salesflow.erasure_enqueue() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform salesflow.enqueue(
        'erase_lead', pg_catalog.jsonb_build_object('erasure_id', new.id), org_id => new.org_id, priority => 10,
        idempotency_key => 'erase_lead:' || new.id
    );
    return null;
end
$$;

create or replace trigger erasure_requests_enqueue after insert on salesflow.erasure_requests
for each row execute function salesflow.erasure_enqueue();

-- The LLM logs of a person (DESIGN.md 16; kept in this one function so that the audit ledger's
-- owners can route it through their audited path): the cost rows stay, the subject and error text
-- go, feedback comments go, and compliance verdicts on the person's calls (whose findings quote
-- the judged text) are deleted.
create or replace function salesflow.erase_llm_traces(org_id uuid, lead_id uuid) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    ids bigint[];
    n_requests integer;
    n_feedback integer;
    n_compliance integer;
begin
    select coalesce(pg_catalog.array_agg(r.id), '{}') into ids from salesflow.llm_requests as r
    where
        r.org_id = erase_llm_traces.org_id
        and r.subject_id = salesflow.subject_hash(erase_llm_traces.org_id, erase_llm_traces.lead_id::text);
    -- the append-only triggers let exactly this transaction edit and delete
    perform pg_catalog.set_config('salesflow.erasure', 'on', true);
    update salesflow.llm_requests as r set
        subject_id = null,
        error = case when r.error is null then null else 'erased' end
    where r.org_id = erase_llm_traces.org_id and r.id = any(ids);
    get diagnostics n_requests = row_count;
    update salesflow.llm_feedback as f set comment = null
    where f.org_id = erase_llm_traces.org_id and f.request_id = any(ids) and f.comment is not null;
    get diagnostics n_feedback = row_count;
    delete from salesflow.compliance_log as c
    where c.org_id = erase_llm_traces.org_id and c.request_id = any(ids);
    get diagnostics n_compliance = row_count;
    perform pg_catalog.set_config('salesflow.erasure', '', true);
    return pg_catalog.jsonb_build_object(
        'llm_requests', n_requests, 'llm_feedback', n_feedback, 'compliance_log', n_compliance
    );
end
$$;

comment on function salesflow.erase_llm_traces(uuid, uuid) is
'Scrub one lead''s traces from the LLM ledgers. security definer, justified: the ledgers are append-only '
'and no app role may edit them; the erase_lead job (salesflow_worker) reaches them only through here.';
revoke execute on function salesflow.erase_llm_traces(uuid, uuid) from public;

-- Erase one request's person from everything; run by the erase_lead job (the worker's owner
-- connection). Idempotent: a done request returns its counts again.
create or replace function salesflow.erase_lead_data(org_id uuid, erasure_id uuid) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    req salesflow.erasure_requests;
    the_lead uuid;
    idents text[];
    needles text[];
    source_ids uuid[];
    tally jsonb := '{}';
    n integer;
    t record;
    v record;
begin
    select e.* into req from salesflow.erasure_requests as e
    where e.org_id = erase_lead_data.org_id and e.id = erase_lead_data.erasure_id
    for update;
    if req.id is null then
        raise sqlstate 'PT404' using message = pg_catalog.format('erasure request %s not found', erasure_id);
    end if;
    if req.status = 'done' then
        return req.counts;
    end if;
    the_lead := req.lead_id;
    -- hold the lead first: a job evaluating it (evaluate_recommendations holds its leads FOR KEY SHARE)
    -- either finishes before this erasure touches anything, or waits and then finds the lead gone
    perform from salesflow.leads as l where l.org_id = req.org_id and l.id = the_lead for update;
    idents := salesflow.lead_identifiers(req.org_id, the_lead);
    -- the strings a raw payload holds the person by: addresses, and phone numbers without their +
    needles := array(
        select distinct x from (
            select pg_catalog.split_part(i, ':', 2) as x from pg_catalog.unnest(idents) as i
            union all
            select pg_catalog.ltrim(pg_catalog.split_part(i, ':', 2), '+') from pg_catalog.unnest(idents) as i
            where i like 'phone:%'
        ) as s where pg_catalog.length(x) >= 3
    );
    -- no resurrection: the identifiers as keyed hashes
    insert into salesflow.suppressions (org_id, identifier_hash, erasure_id)
    select req.org_id, salesflow.identifier_hash(i), req.id from pg_catalog.unnest(idents) as i
    on conflict do nothing;
    tally := tally || pg_catalog.jsonb_build_object('suppressions', pg_catalog.cardinality(idents));
    source_ids := array(
        select m.id from salesflow.messages as m where m.org_id = req.org_id and m.lead_id = the_lead
        union all
        select a.id from salesflow.activities as a where a.org_id = req.org_id and a.lead_id = the_lead
    );
    -- rows that go with the lead by cascade: count them first
    for t in
        select c.table_name from salesflow.personal_data_catalog as c
        join pg_catalog.pg_attribute as a
            on a.attrelid = pg_catalog.to_regclass(c.table_name) and a.attname = 'lead_id' and not a.attisdropped
        where c.erasure = 'cascade'
        order by c.table_name
    loop
        execute pg_catalog.format('select count(*) from %s as x where x.org_id = $1 and x.lead_id = $2', t.table_name)
        into n using req.org_id, the_lead;
        tally := tally || pg_catalog.jsonb_build_object(pg_catalog.split_part(t.table_name, '.', 2), n);
    end loop;
    -- tables erased by their lead column
    for t in
        select c.table_name, c.lead_column from salesflow.personal_data_catalog as c
        where c.erasure = 'delete' order by c.table_name
    loop
        execute pg_catalog.format('delete from %s as x where x.org_id = $1 and x.%I = $2', t.table_name, t.lead_column)
        using req.org_id, the_lead;
        get diagnostics n = row_count;
        tally := tally || pg_catalog.jsonb_build_object(pg_catalog.split_part(t.table_name, '.', 2), n);
    end loop;
    -- inbox payloads: stitched to the lead, or naming one of its addresses (not yet processed)
    delete from salesflow.webhook_inbox as w
    where w.org_id = req.org_id and (
        w.lead_id = the_lead
        or exists (
            select from pg_catalog.unnest(needles) as x
            where pg_catalog.strpos(pg_catalog.lower(coalesce(w.payload::text, '')), pg_catalog.lower(x)) > 0
               or position(pg_catalog.convert_to(x, 'UTF8') in coalesce(w.raw, ''::bytea)) > 0
        )
    );
    get diagnostics n = row_count;
    tally := tally || pg_catalog.jsonb_build_object('webhook_inbox', n);
    -- job payloads that name the lead or one of its texts (not the running ones: a running job
    -- finds the lead gone and stops)
    -- (every scalar of a payload against one hashed set of ids: a LIKE per id and job was quadratic)
    delete from salesflow.jobs as j
    where j.org_id = req.org_id and j.status <> 'running'
      and exists (
          select from pg_catalog.jsonb_path_query(j.payload, 'strict $.**') as pv (val)
          where (pv.val #>> '{}') in (select x::text from pg_catalog.unnest(source_ids || the_lead) as x)
      );
    get diagnostics n = row_count;
    tally := tally || pg_catalog.jsonb_build_object('jobs', n);
    -- a running job about the person keeps its row (its worker records the outcome) but not their ids:
    -- its payload and idempotency key are emptied (a retry then fails as malformed, naming nobody)
    update salesflow.jobs as j set payload = '{}', idempotency_key = null
    where j.org_id = req.org_id and j.status = 'running'
      and (
          exists (
              select from pg_catalog.jsonb_path_query(j.payload, 'strict $.**') as pv (val)
              where (pv.val #>> '{}') in (select x::text from pg_catalog.unnest(source_ids || the_lead) as x)
          )
          or pg_catalog.strpos(coalesce(j.idempotency_key, ''), the_lead::text) > 0
      );
    -- a job that failed on the person (an error naming their lead or texts) keeps its row, not its words
    update salesflow.jobs as j set last_error = 'erased: the error named an erased person'
    where
        j.org_id = req.org_id and j.last_error is not null
        and exists (
            select from pg_catalog.unnest(source_ids || the_lead) as x (id)
            where pg_catalog.strpos(j.last_error, x.id::text) > 0
        );
    delete from salesflow.embedding_queue as q
    where q.org_id = req.org_id and q.source_id in (select pg_catalog.unnest(source_ids));
    get diagnostics n = row_count;
    tally := tally || pg_catalog.jsonb_build_object('embedding_queue', n);
    tally := tally || salesflow.erase_llm_traces(req.org_id, the_lead);
    -- the lead itself, and by cascade everything catalogued as 'cascade'
    delete from salesflow.leads as l where l.org_id = req.org_id and l.id = the_lead;
    get diagnostics n = row_count;
    tally := tally || pg_catalog.jsonb_build_object('leads', n);
    -- materialized views must not keep a copy
    for v in select m.matviewname from pg_catalog.pg_matviews as m where m.schemaname = 'analytics' loop
        execute pg_catalog.format('refresh materialized view analytics.%I', v.matviewname);
    end loop;
    update salesflow.erasure_requests as e
    set status = 'done', lead_id = null, counts = tally, finished_at = pg_catalog.now()
    where e.org_id = req.org_id and e.id = req.id;
    return tally;
end
$$;
comment on function salesflow.erase_lead_data(uuid, uuid) is
'Erase one request''s person from every catalogued store. security definer, justified: it reaches every table the '
'personal-data catalogue lists (by name, dynamically) and refreshes analytics'' views, which the worker''s own '
'role may not; only salesflow_worker executes it, for an erasure request a member filed through api.erase_lead.';
revoke execute on function salesflow.erase_lead_data(uuid, uuid) from public;

-- Everything held about a person, as JSON (GDPR art. 15 and 20).
create or replace function api.export_lead_data(org_id uuid, lead_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    lead salesflow.leads := salesflow.visible_lead(export_lead_data.org_id, export_lead_data.lead_id);
    o uuid := lead.org_id;
    l uuid := lead.id;
begin
    return pg_catalog.jsonb_build_object(
        'exported_at', pg_catalog.now(),
        'lead', pg_catalog.to_jsonb(lead),
        'channel_identities', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.channel, x.address), '[]')
                               from salesflow.channel_identities as x where x.org_id = o and x.lead_id = l),
        'consents', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.channel), '[]')
                     from salesflow.lead_consents as x where x.org_id = o and x.lead_id = l),
        'messages', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.sent_at, x.id), '[]')
                     from salesflow.messages as x where x.org_id = o and x.lead_id = l),
        'activities', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.occurred_at, x.id), '[]')
                       from salesflow.activities as x where x.org_id = o and x.lead_id = l),
        'outbound_messages', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.created_at), '[]')
                              from salesflow.outbox as x where x.org_id = o and x.lead_id = l),
        'deals', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                      'id', x.id, 'name', x.name, 'stage', x.stage, 'amount', x.amount, 'currency', x.currency)
                      order by x.created_at), '[]')
                  from salesflow.deals as x where x.org_id = o and x.lead_id = l),
        'ai_suggestions', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.created_at), '[]')
                           from salesflow.ai_suggestions as x where x.org_id = o and x.lead_id = l),
        'ai_drafts', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.created_at), '[]')
                      from salesflow.ai_drafts as x where x.org_id = o and x.lead_id = l)
    );
end
$$;
comment on function api.export_lead_data(uuid, uuid) is
'Everything held about a lead as one JSON document (access and portability): the lead, its addresses, consents, '
'messages, activities, outbound messages, deals, AI suggestions and AI drafts.';

create or replace function api.set_lead_consent(
    org_id uuid, lead_id uuid, channel salesflow.channel, may_contact boolean, ai_processing boolean
)
returns api.lead_consents
language sql
volatile
set search_path = ''
as $$
    insert into salesflow.lead_consents as c (org_id, lead_id, channel, may_contact, ai_processing, source, updated_by)
    values (
        set_lead_consent.org_id, set_lead_consent.lead_id, set_lead_consent.channel,
        coalesce(set_lead_consent.may_contact, true), coalesce(set_lead_consent.ai_processing, true), 'member',
        (select auth.uid())
    )
    on conflict (org_id, lead_id, channel) do update set
        may_contact = excluded.may_contact, ai_processing = excluded.ai_processing, source = 'member',
        evidence_message_id = null, updated_by = excluded.updated_by, updated_at = pg_catalog.now()
    returning salesflow.api_lead_consent(c)
$$;
comment on function api.set_lead_consent(uuid, uuid, salesflow.channel, boolean, boolean) is
'Record a lead''s consent on one channel: may_contact (false: the outbox sends nothing there) and ai_processing '
'(false: no model reads the lead''s data: drafting, suggestions, memory extraction).';

-- "STOP", "abmelden", ...: a whole message that asks to stop. One list, here.
create or replace function salesflow.is_opt_out(body text) returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select pg_catalog.lower(pg_catalog.btrim(is_opt_out.body)) ~
        '^(stop|stopp|unsubscribe|opt[ -]?out|abmelden|abbestellen|austragen|keine nachrichten( mehr)?|bitte keine nachrichten( mehr)?)[.! ]*$'
$$;

-- An opt-out message: no more contact on its channel, with the message as evidence.
create or replace function salesflow.record_opt_out(
    org_id uuid, lead_id uuid, channel salesflow.channel, message_id uuid
) returns void
language sql
volatile
set search_path = ''
as $$
    insert into salesflow.lead_consents as c (org_id, lead_id, channel, may_contact, source, evidence_message_id)
    values (record_opt_out.org_id, record_opt_out.lead_id, record_opt_out.channel, false, 'opt_out_message',
            record_opt_out.message_id)
    on conflict (org_id, lead_id, channel) do update set
        may_contact = false, source = 'opt_out_message', evidence_message_id = excluded.evidence_message_id,
        updated_at = pg_catalog.now()
$$;

create or replace function api.set_privacy_settings(org_id uuid, retention_days integer, suppression_mode text)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    out jsonb;
begin
    if set_privacy_settings.retention_days is not null and set_privacy_settings.retention_days not between 1 and 36500 then
        raise sqlstate '22023' using message = 'retention_days must be between 1 and 36500, or null to keep messages';
    end if;
    if coalesce(set_privacy_settings.suppression_mode, 'drop') not in ('drop', 'marker') then
        raise sqlstate '22023' using message = 'suppression_mode must be drop or marker';
    end if;
    update salesflow.organizations as o
    set settings = pg_catalog.jsonb_set(o.settings, '{privacy}', pg_catalog.jsonb_strip_nulls(
        pg_catalog.jsonb_build_object(
            'retention_days', set_privacy_settings.retention_days,
            'suppression_mode', coalesce(set_privacy_settings.suppression_mode, 'drop')
        )))
    where o.id = set_privacy_settings.org_id
    returning o.settings -> 'privacy' into out;
    if out is null then
        raise sqlstate '42501' using message = 'only owners and admins change privacy settings';
    end if;
    return out;
end
$$;
comment on function api.set_privacy_settings(uuid, integer, text) is
'Privacy settings (owners and admins): retention_days (messages older than this are deleted daily; null keeps them) '
'and suppression_mode for erased people who write again (drop: nothing is stored; marker: an inbox row without its '
'payload).';

-- Delete messages older than each organisation's retention (the daily apply_retention job).
create or replace function salesflow.apply_retention() returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    n integer;
begin
    delete from salesflow.messages as m
    using salesflow.organizations as o
    where m.org_id = o.id
      and (o.settings #>> '{privacy,retention_days}') is not null
      and m.sent_at < pg_catalog.now() - pg_catalog.make_interval(days => (o.settings #>> '{privacy,retention_days}')::integer);
    get diagnostics n = row_count;
    delete from salesflow.webhook_inbox as w
    using salesflow.organizations as o
    where w.org_id = o.id
      and (o.settings #>> '{privacy,retention_days}') is not null
      and w.received_at < pg_catalog.now()
      - pg_catalog.make_interval(days => (o.settings #>> '{privacy,retention_days}')::integer);
    return n;
end
$$;

insert into salesflow.job_schedules (name, kind, cron, next_run_at)
values (
    'apply_retention', 'apply_retention', '41 2 * * *',
    date_trunc('day', now(), 'UTC') + interval '1 day 2 hours 41 minutes'
)
on conflict (name) do nothing;

-- The personal-data catalogue (DESIGN.md 16), keyed hashes of identifiers and the suppression
-- list that keeps an erased person from being re-created.
--
-- One row per table of the salesflow schema. tests/test_personal_data.py fails when a table, or a
-- text / jsonb / bytea / tsvector column, is missing here: classifying a new table is one line.
-- erasure: cascade (goes with the lead by foreign key), delete (rows whose lead_column is the
-- lead), custom (salesflow.erase_lead_data handles it by name), none (no person's data).
insert into salesflow.personal_data_catalog as c (table_name, erasure, lead_column, personal, not_personal)
values
('salesflow.organizations', 'none', null, '{}', '{name,slug,settings}'),
('salesflow.org_members', 'none', null, '{}', '{display_name,email}'),  -- staff, not leads
('salesflow.companies', 'none', null, '{}', '{name,domain,industry,country,attributes}'),
('salesflow.leads', 'custom', null, '{first_name,last_name,email,phone,title,attributes,external_key}', '{language}'),
('salesflow.deals', 'none', null, '{}', '{name,currency,lost_reason,attributes}'),  -- lead_id set null
('salesflow.activities', 'cascade', null, '{subject,body,search_words}', '{outcome}'),
('salesflow.messages', 'cascade', null, '{subject,body,external_id,thread_id,metadata,search_words}', '{language,sentiment_label,sentiment_source}'),
('salesflow.channel_identities', 'cascade', null, '{address}', '{}'),
('salesflow.embedding_models', 'none', null, '{}', '{name}'),
('salesflow.embedding_queue', 'custom', null, '{}', '{model,last_error}'),  -- keyed by source ids
('salesflow.embeddings', 'cascade', null, '{content,content_hash}', '{model}'),
('salesflow.jobs', 'custom', null, '{payload,last_error}', '{queue,kind,idempotency_key,worker,schedule}'),
('salesflow.job_schedules', 'none', null, '{}', '{name,kind,payload,queue,cron,timezone}'),
('salesflow.llm_models', 'none', null, '{}', '{provider,model}'),
(
    'salesflow.llm_requests', 'custom', null, '{subject_id,error}',
    '{task,feature,prompt_name,experiment_label,provider,model,baseline_provider,baseline_model}'
),
('salesflow.llm_usage_daily', 'none', null, '{}', '{task,provider,model}'),
('salesflow.llm_budgets', 'none', null, '{}', '{feature}'),
('salesflow.llm_budget_reservations', 'none', null, '{}', '{feature}'),
('salesflow.llm_budget_alerts', 'none', null, '{}', '{kind}'),
('salesflow.llm_feedback', 'custom', null, '{comment}', '{}'),
('salesflow.prompts', 'none', null, '{}', '{name,description}'),
('salesflow.prompt_versions', 'none', null, '{}', '{template,variables,model_config,output_schema}'),
('salesflow.prompt_labels', 'none', null, '{}', '{label}'),
('salesflow.prompt_experiments', 'none', null, '{}', '{weights}'),
('salesflow.conversations', 'cascade', null, '{title,summary}', '{language}'),
('salesflow.conversation_turns', 'cascade', null, '{content}', '{}'),
('salesflow.compliance_log', 'custom', null, '{findings,text_sha256}', '{task,purpose,rules_version,action}'),
('salesflow.ai_suggestions', 'cascade', null, '{content,inputs}', '{}'),
(
    'salesflow.ai_drafts', 'cascade', null, '{purpose,content,subject,body,inputs}',
    '{kind,status,language,tone,prompt_name}'
),
('salesflow.schema_migrations', 'none', null, '{}', '{name,checksum}'),
-- the insights dashboard (issue 14): aggregates only, no person's data
('salesflow.insight_alerts', 'none', null, '{}', '{metric,method}'),
('salesflow.executive_summaries', 'none', null, '{}', '{language,content,figures,source,prompt_name,model}'),
('salesflow.schema_objects', 'none', null, '{}', '{checksum}'),
('salesflow.channel_configs', 'none', null, '{}', '{route_key,verify_token,app_secret,access_token,settings}'),
('salesflow.webhook_inbox', 'custom', null, '{external_id,payload,raw,error}', '{kind,body_sha256}'),
('salesflow.webhook_rejections', 'none', null, '{}', '{reason,body_sha256}'),
(
    'salesflow.outbox', 'cascade', null, '{to_address,subject,body,external_id,thread_id,last_error}',
    '{idempotency_key,approval_rule}'
),
('salesflow.lead_consents', 'cascade', null, '{}', '{source}'),
('salesflow.install_secrets', 'none', null, '{}', '{name,secret}'),
('salesflow.suppressions', 'none', null, '{}', '{identifier_hash}'),  -- keyed hashes only
('salesflow.erasure_requests', 'none', null, '{}', '{lead_hash,reason_sha256,counts}'),
('salesflow.lead_merges', 'delete', 'merge_id', '{merged_lead,moved}', '{}'),
-- audit retention, lead intelligence (issue 11), recommendations (issue 12), memory (issue 13),
-- predictions (issue 14)
('salesflow.audit_retention_runs', 'none', null, '{}', '{table_name,run_by}'),
('salesflow.ai_feature_flags', 'none', null, '{}', '{feature,rollout_by,segments}'),
(
    'salesflow.ai_models', 'none', null, '{}',
    '{name,model_kind,status,learner,library_versions,metrics,bias_report,card,decision}'
),
('salesflow.scoring_model_features', 'none', null, '{}', '{feature,value_type,edges,categories,contributions}'),
('salesflow.model_alerts', 'none', null, '{}', '{alert,details}'),
('salesflow.lead_attribute_defs', 'none', null, '{}', '{name,data_type,label_en,label_de}'),
('salesflow.lead_outcomes', 'cascade', null, '{}', '{source}'),
('salesflow.engagement_events', 'cascade', null, '{properties}', '{idempotency_key}'),
('salesflow.lead_scores', 'cascade', null, '{}', '{trend}'),
('salesflow.lead_score_history', 'cascade', null, '{}', '{}'),
('salesflow.bant_assessments', 'cascade', null, '{notes,evidence,inputs}', '{traffic_light,method,status}'),
(
    'salesflow.personality_profiles', 'cascade', null, '{evidence_quotes,inputs}',
    '{dominant_type,source,language}'
),
('salesflow.disg_guidance', 'none', null, '{}', '{dominant_type,language,aspect,guidance}'),
(
    'salesflow.ai_recommendations', 'cascade', null, '{reason,evidence}',
    '{reason_key,source,rule_key,score_model,segment,score_band,closed_reason}'
),
('salesflow.recommendation_reactions', 'cascade', null, '{note}', '{}'),  -- with its recommendation
('salesflow.recommendation_rules', 'none', null, '{}', '{rule_key,params,description}'),
('salesflow.recommendation_rule_stats', 'none', null, '{}', '{rule_key,segment}'),
('salesflow.lead_stage_changes', 'cascade', null, '{}', '{}'),
('salesflow.calling_code_zones', 'none', null, '{}', '{prefix,country,timezone}'),
('salesflow.contact_patterns', 'none', null, '{}', '{segment}'),
('salesflow.contact_pattern_fits', 'none', null, '{}', '{}'),
('salesflow.lead_channel_stats', 'cascade', null, '{}', '{channel,reply_hours}'),
('salesflow.success_patterns', 'none', null, '{}', '{outcome,pattern_key,description}'),
('salesflow.playbooks', 'none', null, '{}', '{name,description}'),
('salesflow.playbook_steps', 'none', null, '{}', '{title}'),
('salesflow.playbook_executions', 'cascade', null, '{}', '{status}'),
('salesflow.playbook_execution_steps', 'cascade', null, '{}', '{}'),  -- with its execution
('salesflow.conversation_summaries', 'cascade', null, '{summary,key_facts}', '{sentiment,model}'),
('salesflow.memory_facts', 'cascade', null, '{fact,quote}', '{fact_key,extracted_by}'),
('salesflow.deal_stage_changes', 'none', null, '{}', '{}'),  -- a deal outlives its contact
-- prompt test suites (issue 14): fixtures an admin writes and the model's answers to them, no lead's data
('salesflow.prompt_test_cases', 'none', null, '{}', '{name,message,inputs,assertions,source}'),
('salesflow.prompt_test_runs', 'none', null, '{}', '{status,error}'),
('salesflow.prompt_test_results', 'none', null, '{}', '{case_name,checks,output}'),
('salesflow.prompt_label_moves', 'none', null, '{}', '{label,suite_status,override_reason}'),
-- listening (issue 14): transcripts and recordings go with the call, insights with the call and the lead
(
    'salesflow.call_transcripts', 'cascade', null, '{status_detail,transcript,segments,rep_speaker,audio,audio_filename}',
    '{status,source,language,audio_content_type,audio_sha256,provider,model}'
),
('salesflow.competitors', 'none', null, '{}', '{name,aliases}'),  -- other companies, not people
(
    'salesflow.conversation_insights', 'cascade', null,
    '{error,summary,topics,sentiment,action_items,key_moments,objections,competitor_mentions,coaching,inputs}',
    '{status,requested_method,method,language,baseline_version,prompt_name,model}'
),
-- stored predictions (issue 14): a deal's go with its lead (lead_id, cascade); ids and figures, no text
(
    'salesflow.predictions', 'cascade', null, '{inputs,result}',
    '{kind,method,method_version,fingerprint,source}'
),
('salesflow.personal_data_catalog', 'none', null, '{}', '{table_name,erasure,lead_column,personal,not_personal}')
on conflict (table_name) do update set
    erasure = excluded.erasure, lead_column = excluded.lead_column,
    personal = excluded.personal, not_personal = excluded.not_personal;

-- HMAC-SHA256 (RFC 2104) from the built-in sha256, so no extension is needed (pgcrypto is not in
-- every installation); tests compare it with Python's hmac module.
create or replace function salesflow.hmac_sha256(key bytea, message bytea) returns bytea
language plpgsql
immutable
strict
parallel safe
set search_path = ''
as $$
declare
    k bytea := case when pg_catalog.length(key) > 64 then pg_catalog.sha256(key) else key end;
    inner_pad bytea;
    outer_pad bytea;
begin
    k := k || pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.length(k)), 'hex');
    inner_pad := k;
    outer_pad := k;
    for i in 0..63 loop
        inner_pad := pg_catalog.set_byte(inner_pad, i, pg_catalog.get_byte(k, i) # 54);  -- 0x36
        outer_pad := pg_catalog.set_byte(outer_pad, i, pg_catalog.get_byte(k, i) # 92);  -- 0x5c
    end loop;
    return pg_catalog.sha256(outer_pad || pg_catalog.sha256(inner_pad || message));
end
$$;

-- The keyed hash of one identifier: 'email:<normalised>', 'phone:+<digits>' or 'addr:<channel>:<address>'
-- (a WhatsApp business-scoped user id, a generic channel's id).
-- security definer: reads the installation's secret, which no app role may read.
create or replace function salesflow.identifier_hash(identifier text) returns bytea
language sql
stable
strict
security definer
set search_path = ''
as $$
    select salesflow.hmac_sha256(s.secret, pg_catalog.convert_to(identifier_hash.identifier, 'UTF8'))
    from salesflow.install_secrets as s where s.name = 'identifier_hmac'
$$;

-- The identifiers a lead can be found by, in identifier_hash's form.
create or replace function salesflow.lead_identifiers(org_id uuid, lead_id uuid) returns text[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(pg_catalog.array_agg(distinct x.id), '{}') from (
        select 'email:' || l.email as id from salesflow.leads as l
        where l.org_id = lead_identifiers.org_id and l.id = lead_identifiers.lead_id and l.email is not null
        union all
        select 'phone:' || l.phone from salesflow.leads as l
        where l.org_id = lead_identifiers.org_id and l.id = lead_identifiers.lead_id and l.phone is not null
        union all
        select case when ci.channel in ('whatsapp', 'sms', 'phone') and ci.address ~ '^\+[0-9]+$'
                    then 'phone:' || ci.address
                    when ci.channel = 'email' then 'email:' || ci.address
                    else 'addr:' || ci.channel::text || ':' || ci.address end
        from salesflow.channel_identities as ci
        where ci.org_id = lead_identifiers.org_id and ci.lead_id = lead_identifiers.lead_id
    ) as x
$$;

-- Is any of these identifiers on the organisation's suppression list?
create or replace function salesflow.is_suppressed(org_id uuid, identifiers text[]) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from salesflow.suppressions as s
        where s.org_id = is_suppressed.org_id
          and s.identifier_hash in (select salesflow.identifier_hash(i) from pg_catalog.unnest(identifiers) as i)
    )
$$;

-- create_lead, imports and COPY all insert here: an erased person's email or phone is refused.
create or replace function salesflow.leads_refuse_suppressed() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if (new.email is not null or new.phone is not null) and salesflow.is_suppressed(
        new.org_id,
        array_remove(array['email:' || new.email, 'phone:' || salesflow.normalize_phone(new.phone)], null)
    ) then
        raise sqlstate 'PT409' using
            message = 'this person was erased at their request and may not be added again',
            hint = 'The email or phone number is on the organisation''s suppression list.';
    end if;
    return new;
end
$$;

create or replace trigger leads_refuse_suppressed before insert or update of email, phone on salesflow.leads
for each row execute function salesflow.leads_refuse_suppressed();

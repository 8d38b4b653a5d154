-- Scoring RPCs, model activation and rollback, the model card, and the training schedule.

-- Activate (or reject) a freshly trained candidate and re-score the organisation when the active
-- model changed. Called by the trainer in the transaction that stores the candidate.
create or replace function salesflow.decide_scoring_model(
    p_org uuid, p_model uuid, p_activate boolean, p_decision text
) returns integer
language plpgsql
set search_path = ''
as $$
begin
    if not p_activate then
        update salesflow.ai_models set status = 'rejected', decision = p_decision
        where org_id = p_org and id = p_model;
        return 0;
    end if;
    update salesflow.ai_models set status = 'retired', retired_at = pg_catalog.now()
    where org_id = p_org and name = 'lead_conversion' and status = 'active';
    update salesflow.ai_models set status = 'active', activated_at = pg_catalog.now(), decision = p_decision
    where org_id = p_org and id = p_model;
    return salesflow.rescore_org(p_org);
end
$$;

-- Put the previously active model back (the one retired most recently) and re-score.
create or replace function salesflow.rollback_scoring_model(p_org uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    current_model uuid;
    previous_model uuid;
begin
    select m.id into current_model from salesflow.ai_models as m
    where m.org_id = p_org and m.name = 'lead_conversion' and m.status = 'active';
    select m.id into previous_model from salesflow.ai_models as m
    where m.org_id = p_org and m.name = 'lead_conversion' and m.status = 'retired' and m.activated_at is not null
    order by m.retired_at desc nulls last, m.version desc limit 1;
    if previous_model is null then
        raise sqlstate '22023' using
            message = 'there is no previously active scoring model to roll back to',
            hint = 'A rollback needs a model that was active before the current one.';
    end if;
    update salesflow.ai_models set status = 'retired', retired_at = pg_catalog.now(),
        decision = 'rolled back'
    where org_id = p_org and id = current_model;
    update salesflow.ai_models set status = 'active', activated_at = pg_catalog.now(), retired_at = null
    where org_id = p_org and id = previous_model;
    return pg_catalog.jsonb_build_object('active_model_id', previous_model, 'retired_model_id', current_model,
                                         'rescored', salesflow.rescore_org(p_org));
end
$$;

-- A model card as JSON: registry row, metrics, bias report and the card's prose.
create or replace function salesflow.model_card(p_org uuid, p_model uuid default null) returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'model_id', m.id, 'name', m.name, 'kind', m.model_kind, 'version', m.version, 'status', m.status,
        'learner', m.learner, 'library_versions', m.library_versions, 'cutoff', m.cutoff,
        'training_rows', m.training_rows, 'training_conversions', m.training_conversions,
        'metrics', m.metrics, 'bias_report', m.bias_report, 'bias_flagged', m.bias_flagged, 'card', m.card,
        'decision', m.decision, 'created_at', m.created_at, 'activated_at', m.activated_at,
        'retired_at', m.retired_at, 'needs_retraining', m.needs_retraining,
        'features', (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('feature', f.feature,
                                                 'importance', f.importance) order by f.importance desc)
                     from salesflow.scoring_model_features as f where f.org_id = m.org_id and f.model_id = m.id)
    )
    from salesflow.ai_models as m
    where m.org_id = p_org and (p_model is null or m.id = p_model)
    order by (m.status = 'active') desc, m.version desc
    limit 1
$$;

-- A readable label for a feature and the value a lead has, in English or German.
create or replace function salesflow.feature_label(feature text, language text) returns text
language sql
immutable
set search_path = ''
as $$
    select coalesce(
        case feature_label.language when 'de' then (pg_catalog.jsonb_build_object(
            'lead.source', 'Quelle', 'lead.language', 'Sprache', 'lead.title', 'Position',
            'lead.has_phone', 'Telefonnummer bekannt', 'company.industry', 'Branche',
            'company.employee_count', 'Mitarbeiterzahl', 'company.country', 'Land',
            'activity.count_30d', 'Aktivitäten (30 Tage)', 'activity.count_90d', 'Aktivitäten (90 Tage)',
            'activity.meetings', 'Termine', 'activity.days_since_last', 'Tage seit letzter Aktivität',
            'message.inbound_90d', 'Eingehende Nachrichten (90 Tage)',
            'message.outbound_90d', 'Ausgehende Nachrichten (90 Tage)',
            'message.inbound_share', 'Anteil eingehender Nachrichten', 'message.reply_hours', 'Antwortzeit (Stunden)',
            'engagement.count_30d', 'Interaktionen (30 Tage)', 'engagement.web', 'Website-Besuche',
            'engagement.email', 'E-Mail-Öffnungen und -Klicks', 'engagement.forms', 'Formulare',
            'engagement.product', 'Produktnutzung', 'engagement.days_since_last', 'Tage seit letzter Interaktion'
        ) ->> feature_label.feature)
        else (pg_catalog.jsonb_build_object(
            'lead.source', 'Source', 'lead.language', 'Language', 'lead.title', 'Job title',
            'lead.has_phone', 'Phone number known', 'company.industry', 'Industry',
            'company.employee_count', 'Employees', 'company.country', 'Country',
            'activity.count_30d', 'Activities (30 days)', 'activity.count_90d', 'Activities (90 days)',
            'activity.meetings', 'Meetings', 'activity.days_since_last', 'Days since last activity',
            'message.inbound_90d', 'Inbound messages (90 days)', 'message.outbound_90d', 'Outbound messages (90 days)',
            'message.inbound_share', 'Share of inbound messages', 'message.reply_hours', 'Reply time (hours)',
            'engagement.count_30d', 'Engagement events (30 days)', 'engagement.web', 'Website visits',
            'engagement.email', 'Email opens and clicks', 'engagement.forms', 'Form submissions',
            'engagement.product', 'Product usage', 'engagement.days_since_last', 'Days since last engagement'
        ) ->> feature_label.feature) end,
        pg_catalog.regexp_replace(feature_label.feature, '^attr\.', '')
    )
$$;

-- The explanation of a lead's current score: every factor's contribution to the log-odds (they
-- add up, with the baseline, to the score's log-odds exactly), strongest first.
create or replace function api.explain_lead_score(org_id uuid, lead_id uuid, language text default 'en')
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    s salesflow.lead_scores;
    m salesflow.ai_models;
    factors jsonb;
begin
    perform api.get_lead(explain_lead_score.org_id, explain_lead_score.lead_id);
    select * into s from salesflow.lead_scores as x
    where x.org_id = explain_lead_score.org_id and x.lead_id = explain_lead_score.lead_id;
    if s is null then
        perform salesflow.not_found('score of lead', explain_lead_score.lead_id);
    end if;
    if s.model_id is null then
        return pg_catalog.jsonb_build_object(
            'lead_id', s.lead_id, 'probability', s.probability, 'score', s.score, 'trend', s.trend,
            'model_id', null, 'log_odds', s.log_odds, 'baseline', s.log_odds, 'factors', '[]'::jsonb,
            'explanation', case when explain_lead_score.language = 'de'
                then 'Noch kein Modell dieser Organisation (zu wenige entschiedene Leads): der Score ist die '
                     'Basisrate der Organisation ((Konversionen + 2) / (entschiedene Leads + 20)).'
                else 'No model for this organisation yet (too few decided leads): the score is the '
                     'organisation''s base rate ((conversions + 2) / (decided leads + 20)).' end);
    end if;
    select * into m from salesflow.ai_models as x where x.org_id = s.org_id and x.id = s.model_id;
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'feature', c.feature, 'label', salesflow.feature_label(c.feature, explain_lead_score.language),
               'value', coalesce(c.cat_value, pg_catalog.round(c.num_value::numeric, 2)::text),
               'contribution', c.contribution,
               'direction', case when c.contribution >= 0 then 'for' else 'against' end)
           order by pg_catalog.abs(c.contribution) desc)
    into factors
    from salesflow.model_contributions(s.org_id, s.model_id, array[s.lead_id], array[s.scored_at]) as c
    where c.contribution <> 0;
    return pg_catalog.jsonb_build_object(
        'lead_id', s.lead_id, 'probability', s.probability, 'score', s.score, 'trend', s.trend,
        'model_id', s.model_id, 'model_version', m.version, 'log_odds', s.log_odds, 'baseline', m.intercept,
        'scored_at', s.scored_at, 'factors', coalesce(factors, '[]'::jsonb));
end
$$;
comment on function api.explain_lead_score(uuid, uuid, text) is
'Why a lead has its score: baseline plus every factor''s contribution to the log-odds (they add up exactly), '
'strongest first, labelled in en or de; direction says for or against converting.';

create or replace function api.get_lead_score(org_id uuid, lead_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'lead_id', s.lead_id, 'probability', s.probability, 'score', s.score, 'trend', s.trend,
        'model_id', s.model_id, 'scored_at', s.scored_at,
        'history', (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('score', h.score,
                        'model_id', h.model_id, 'scored_at', h.scored_at) order by h.id desc)
                    from (select * from salesflow.lead_score_history as h
                          where h.org_id = s.org_id and h.lead_id = s.lead_id order by h.id desc limit 20) as h))
    from salesflow.lead_scores as s
    where s.org_id = get_lead_score.org_id and s.lead_id = get_lead_score.lead_id
$$;
comment on function api.get_lead_score(uuid, uuid) is 'A lead''s current score, trend and the last 20 score changes.';

-- Queue the training job. Security definer because app roles may not touch the queue; owners and
-- admins only.
create or replace function api.train_scoring_model(org_id uuid)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
    if not train_scoring_model.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', train_scoring_model.org_id),
            hint = 'Owners and admins of an organisation may train its scoring model.';
    end if;
    return salesflow.enqueue('train_scoring_model',
                             pg_catalog.jsonb_build_object('org_id', train_scoring_model.org_id),
                             org_id => train_scoring_model.org_id,
                             idempotency_key => 'train_scoring_model:' || train_scoring_model.org_id);
end
$$;
comment on function api.train_scoring_model(uuid) is
'security definer, justified: it queues the training job, which app roles cannot write; it checks membership first. Owners and admins: queue training of the organisation''s conversion model; returns the job id.';

create or replace function api.rollback_scoring_model(org_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    if not rollback_scoring_model.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', rollback_scoring_model.org_id),
            hint = 'Owners and admins of an organisation may roll its scoring model back.';
    end if;
    return salesflow.rollback_scoring_model(rollback_scoring_model.org_id);
end
$$;
comment on function api.rollback_scoring_model(uuid) is
'security definer, justified: it changes the model registry, which members cannot write; it checks that the caller is an owner or admin first. Owners and admins: make the previously active scoring model active again and re-score every lead.';

create or replace function api.get_model_card(org_id uuid, model_id uuid default null)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select salesflow.model_card(get_model_card.org_id, get_model_card.model_id)
$$;
comment on function api.get_model_card(uuid, uuid) is
'The model card (JSON) of a scoring model: the active or latest one when model_id is null.';

-- The registry's other half: the gateway's LLM catalogue (salesflow.llm_models, global), as
-- registry entries of kind llm. A catalogue row is a version (its effective_from): the newest per
-- model is active, older price rows are retired when the next one took effect.
create or replace function salesflow.llm_registry() returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'kind', 'llm', 'name', x.provider || '/' || x.model, 'provider', x.provider, 'model', x.model,
        'version', x.effective_from, 'status', case when x.next_from is null then 'active' else 'retired' end,
        'deployed_at', x.effective_from, 'retired_at', x.next_from, 'context_window', x.context_window,
        'input_price_per_mtok', x.input_price_per_mtok, 'output_price_per_mtok', x.output_price_per_mtok,
        -- the local plumbing model (DESIGN.md decision 8): its text is labelled wherever a person reads it
        'offline', x.provider = 'llama.cpp'
    ) order by x.provider, x.model, x.effective_from desc), '[]'::jsonb)
    from (
        select m.*, pg_catalog.lead(m.effective_from) over (partition by m.provider, m.model order by m.effective_from)
            as next_from
        from salesflow.llm_models as m
        where m.effective_from <= current_date
    ) as x
$$;
comment on function salesflow.llm_registry() is
'The LLM catalogue as model-registry entries (kind llm). security definer, justified: the catalogue is '
'global reference data (provider prices) with no policies; this returns only catalogue columns.';
revoke all on function salesflow.llm_registry() from public;
grant execute on function salesflow.llm_registry() to authenticated, service_role;

create or replace function api.list_ai_models(org_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'scoring', coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'model_id', m.id, 'kind', m.model_kind, 'name', m.name, 'version', m.version, 'status', m.status,
            'learner', m.learner,
            'roc_auc', m.metrics -> 'roc_auc', 'bias_flagged', m.bias_flagged, 'created_at', m.created_at,
            'activated_at', m.activated_at, 'retired_at', m.retired_at) order by m.version desc)
            from salesflow.ai_models as m where m.org_id = list_ai_models.org_id), '[]'::jsonb),
        -- the gateway's LLM catalogue, kind llm (salesflow.llm_registry above)
        'llm', salesflow.llm_registry()
    )
    where list_ai_models.org_id = any(salesflow.my_org_ids())
$$;
comment on function api.list_ai_models(uuid) is
'The organisation''s model registry: its scoring models, newest first, and the gateway''s LLM catalogue '
'(kind llm: provider/model, price version, active or retired, context window, prices).';

-- weekly retraining of every organisation with enough data (the job skips the others)
select salesflow.schedule_job('train_scoring_models', 'train_scoring_model', cron => '0 3 * * 0');

revoke all on function salesflow.decide_scoring_model(uuid, uuid, boolean, text),
salesflow.rollback_scoring_model(uuid), salesflow.model_card(uuid, uuid), salesflow.feature_label(text, text)
from public;
grant execute on function salesflow.model_card(uuid, uuid), salesflow.feature_label(text, text)
to authenticated, service_role;
revoke all on function api.explain_lead_score(uuid, uuid, text), api.get_lead_score(uuid, uuid),
api.train_scoring_model(uuid), api.rollback_scoring_model(uuid), api.get_model_card(uuid, uuid),
api.list_ai_models(uuid) from public;
grant execute on function api.explain_lead_score(uuid, uuid, text), api.get_lead_score(uuid, uuid),
api.train_scoring_model(uuid), api.rollback_scoring_model(uuid), api.get_model_card(uuid, uuid),
api.list_ai_models(uuid) to authenticated, service_role;

-- Monitoring of the active scoring model as outcomes arrive: its AUC and calibration on leads it
-- scored before their outcome was known, against the figures it was activated with.
--
-- Which scores count: the lead's last score by the active model (lead_score_history) made before
-- the lead's outcome became known (lead_conversions.decided_at); outcomes without a date (imports)
-- do not count, they are training data. History keeps score changes only, so a lead whose score
-- did not move when this model was activated is not judged until its score moves once.
--
-- Thresholds: judged only with at least 50 such leads, 10 of each outcome. Drift is an AUC more than
-- 0.05 below the hold-out AUC (auc_drop), or a calibration error (10 bins, weighted mean of
-- |predicted - observed|) more than 0.05 above the hold-out one (calibration_drift). Either writes
-- one alert row per model and kind, marks the model for retraining and queues its training job.

create or replace function salesflow.model_live_metrics(p_org uuid, p_model uuid) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
    with judged as (
        select h.probability as p, (c.status = 'converted')::integer as y
        from salesflow.lead_conversions as c
        cross join lateral (
            select x.probability from salesflow.lead_score_history as x
            where
                x.org_id = c.org_id and x.lead_id = c.lead_id and x.model_id = p_model
                and x.scored_at < c.decided_at
            order by x.scored_at desc, x.id desc
            limit 1
        ) as h
        where c.org_id = p_org and c.status in ('converted', 'lost') and c.decided_at is not null
    ),
    ranked as (
        -- mid-ranks for ties, as the Mann-Whitney statistic needs
        select j.y, j.p, pg_catalog.rank() over (order by j.p) + (pg_catalog.count(*) over (partition by j.p) - 1) / 2.0
            as r
        from judged as j
    ),
    counts as (
        select pg_catalog.count(*) filter (where y = 1) as pos, pg_catalog.count(*) filter (where y = 0) as neg,
            pg_catalog.sum(r) filter (where y = 1) as pos_ranks
        from ranked
    ),
    bins as (
        select
            least(pg_catalog.floor(j.p * 10), 9) as bin, pg_catalog.count(*) as n, pg_catalog.avg(j.p) as predicted,
            pg_catalog.avg(j.y) as observed
        from judged as j
        group by 1
    )
    select pg_catalog.jsonb_build_object(
        'leads', c.pos + c.neg, 'conversions', c.pos,
        'roc_auc', case when c.pos > 0 and c.neg > 0
            then (c.pos_ranks - c.pos * (c.pos + 1) / 2.0) / (c.pos * c.neg) end,
        'calibration_error', (select pg_catalog.sum(b.n * abs(b.predicted - b.observed)) / nullif(c.pos + c.neg, 0)
                              from bins as b)
    )
    from counts as c
$$;

create or replace function salesflow.monitor_scoring_models(p_org uuid default null) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    m record;
    live jsonb;
    auc_drop double precision;
    calibration_rise double precision;
    checked jsonb := '[]';
    drifted boolean;
begin
    for m in
        select a.org_id, a.id, a.version, a.metrics from salesflow.ai_models as a
        where a.status = 'active' and a.name = 'lead_conversion' and (p_org is null or a.org_id = p_org)
    loop
        live := salesflow.model_live_metrics(m.org_id, m.id);
        drifted := false;
        if (live ->> 'conversions')::integer >= 10 and (live ->> 'leads')::integer - (live ->> 'conversions')::integer >= 10
            and (live ->> 'leads')::integer >= 50 then
            auc_drop := (m.metrics ->> 'roc_auc')::double precision - (live ->> 'roc_auc')::double precision;
            calibration_rise := (live ->> 'calibration_error')::double precision
                - coalesce((m.metrics ->> 'calibration_error')::double precision, 0);
            if auc_drop > 0.05 then
                drifted := true;
                insert into salesflow.model_alerts (org_id, model_id, alert, details)
                select m.org_id, m.id, 'auc_drop', live || pg_catalog.jsonb_build_object(
                    'holdout_roc_auc', m.metrics -> 'roc_auc', 'threshold', 0.05)
                where not exists (select from salesflow.model_alerts as x
                                  where x.org_id = m.org_id and x.model_id = m.id and x.alert = 'auc_drop');
            end if;
            if calibration_rise > 0.05 then
                drifted := true;
                insert into salesflow.model_alerts (org_id, model_id, alert, details)
                select m.org_id, m.id, 'calibration_drift', live || pg_catalog.jsonb_build_object(
                    'holdout_calibration_error', m.metrics -> 'calibration_error', 'threshold', 0.05)
                where not exists (select from salesflow.model_alerts as x
                                  where x.org_id = m.org_id and x.model_id = m.id and x.alert = 'calibration_drift');
            end if;
            if drifted then
                update salesflow.ai_models as a set needs_retraining = true
                where a.org_id = m.org_id and a.id = m.id and not a.needs_retraining;
                if found then
                    perform salesflow.enqueue('train_scoring_model', pg_catalog.jsonb_build_object('org_id', m.org_id),
                                              org_id => m.org_id,
                                              idempotency_key => 'train_scoring_model:' || m.org_id);
                end if;
            end if;
        end if;
        checked := checked || pg_catalog.jsonb_build_object('org_id', m.org_id, 'model_id', m.id, 'live', live,
                                                            'drifted', drifted);
    end loop;
    return checked;
end
$$;
comment on function salesflow.monitor_scoring_models(uuid) is
'Re-measure every active scoring model on leads it scored before their outcome; drift writes an alert, '
'marks the model for retraining and queues training. security definer, justified: the scheduled worker job '
'runs it across organisations, and it writes only alerts, the retraining mark and the training job.';

-- Owners, admins and analysts: the live figures of the active model and its alerts.
create or replace function api.get_model_monitoring(org_id uuid)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'model_id', m.id, 'version', m.version, 'needs_retraining', m.needs_retraining,
        'holdout', pg_catalog.jsonb_build_object('roc_auc', m.metrics -> 'roc_auc',
                                                 'calibration_error', m.metrics -> 'calibration_error'),
        'live', salesflow.model_live_metrics(m.org_id, m.id),
        'alerts', coalesce((select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(a) order by a.created_at desc)
                            from salesflow.model_alerts as a where a.org_id = m.org_id and a.model_id = m.id),
                           '[]'::jsonb)
    )
    from salesflow.ai_models as m
    where m.org_id = get_model_monitoring.org_id and m.name = 'lead_conversion' and m.status = 'active'
$$;
comment on function api.get_model_monitoring(uuid) is
'The active scoring model''s AUC and calibration on leads it scored before their outcome, beside its hold-out '
'figures, with its drift alerts (thresholds: 0.05 AUC drop or calibration-error rise, from 50 judged leads).';

select salesflow.schedule_job('monitor_scoring_models', 'monitor_scoring_models', cron => '30 * * * *');

revoke all on function salesflow.model_live_metrics(uuid, uuid), salesflow.monitor_scoring_models(uuid),
api.get_model_monitoring(uuid) from public;
grant execute on function salesflow.model_live_metrics(uuid, uuid), api.get_model_monitoring(uuid)
to authenticated, service_role;

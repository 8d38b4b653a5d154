-- Next actions (issue 14, POST /api/ai/predictions/next-actions): the open recommendations of the
-- rules engine (api.recommend_followup_actions) beside the actions the deal predictions call for
-- (a stalling deal, a deal likely to close inside the horizon, a close date missing or past), in
-- one ranked list. Priorities share one 0-100 scale: a recommendation's decayed priority, and for
-- a prediction the risk or chance (0-1) times 100. Each row says where it comes from and why.
create or replace function api.predict_next_actions(
    org_id uuid, lead_id uuid default null, deal_id uuid default null, horizon_days integer default 30,
    page_size integer default 20, as_of timestamptz default null
)
returns table (
    source text, action text, target_lead_id uuid, target_deal_id uuid, reason text, priority real, due_at timestamptz,
    evidence jsonb, recommendation_id uuid
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    at_time timestamptz := coalesce(predict_next_actions.as_of, pg_catalog.now());
begin
    if horizon_days is null or horizon_days not between 1 and 365 then
        raise sqlstate '22023' using message = 'horizon_days must be between 1 and 365';
    end if;
    if not predict_next_actions.org_id = any(salesflow.my_org_ids()) then
        perform salesflow.not_found('organization', predict_next_actions.org_id);
    end if;
    return query
    with recs as (
        select
            'recommendation'::text as source, r.action_type::text as action, r.lead_id, r.deal_id, r.reason,
            r.priority, r.due_at, r.evidence, r.id as recommendation_id
        from api.recommend_followup_actions(predict_next_actions.org_id, null, 100, at_time) as r
        -- coaching is advice to the rep about a past call, not an action with the customer: it stays in
        -- the rep's own list (api.recommend_followup_actions) and out of the deal's next actions
        where r.action_type <> 'coach'
          and (predict_next_actions.lead_id is null or r.lead_id = predict_next_actions.lead_id)
          and (
              predict_next_actions.deal_id is null or r.deal_id = predict_next_actions.deal_id
              -- a recommendation about the deal's contact that names no deal is about the deal too
              or (r.deal_id is null and r.lead_id = (
                  select d.lead_id from salesflow.deals as d
                  where d.org_id = predict_next_actions.org_id and d.id = predict_next_actions.deal_id
              ))
          )
    ),
    chances as (
        select c.*, d.lead_id as deal_lead, d.expected_close as planned_close, s.stall_risk, s.basis
        from salesflow.open_deal_chances(predict_next_actions.org_id, at_time, 0, horizon_days) as c
        join salesflow.deals as d on d.org_id = predict_next_actions.org_id and d.id = c.deal_id
        -- no row without won deals to compare with: then there is no stall risk to act on
        left join lateral salesflow.deal_stall_risk(
            predict_next_actions.org_id, at_time, c.stage_at,
            extract(epoch from (at_time - coalesce(c.stage_since, d.created_at))) / 86400, c.age_days
        ) as s on true
        where (predict_next_actions.deal_id is null or c.deal_id = predict_next_actions.deal_id)
          and (predict_next_actions.lead_id is null or d.lead_id = predict_next_actions.lead_id)
    ),
    predicted as (
        -- slower in its stage than most won deals were: revive it before it goes cold
        select 'prediction'::text, 'call'::text, c.deal_lead, c.deal_id,
            pg_catalog.format('stall risk %s%%: %s', round((c.stall_risk * 100)::numeric), c.basis),
            (c.stall_risk * 100)::real, at_time,
            pg_catalog.jsonb_build_object('stall_risk', round(c.stall_risk::numeric, 4), 'stage', c.stage_at,
                                          'age_days', c.age_days, 'method', c.method),
            null::uuid
        from chances as c where c.stall_risk >= 0.5
        union all
        -- likely won inside the horizon: agree the close
        select 'prediction', 'meeting', c.deal_lead, c.deal_id,
            pg_catalog.format('%s%% chance to be won within %s days (expected close %s)',
                              round((c.win_in_window * 100)::numeric), horizon_days, c.expected_close),
            (c.win_in_window * 100)::real, at_time,
            pg_catalog.jsonb_build_object('win_within_horizon', round(c.win_in_window::numeric, 4),
                                          'expected_value', c.expected_value, 'method', c.method),
            null::uuid
        from chances as c where c.win_in_window >= 0.4
        union all
        -- the close date the rep entered has passed and the deal is still open
        select 'prediction', 'update_close_date', c.deal_lead, c.deal_id,
            pg_catalog.format('planned close %s has passed', c.planned_close)
            || coalesce('; the model expects ' || c.expected_close::text, ''),
            50::real, at_time,
            pg_catalog.jsonb_build_object('planned_close', c.planned_close, 'expected_close', c.expected_close),
            null::uuid
        from chances as c where c.planned_close < at_time::date
        union all
        -- no close date entered: the forecast runs on the model's guess until the rep sets one
        select 'prediction', 'set_close_date', c.deal_lead, c.deal_id,
            'no expected close date' || coalesce('; the model expects ' || c.expected_close::text, ''),
            30::real, at_time,
            pg_catalog.jsonb_build_object('expected_close', c.expected_close, 'method', c.method),
            null::uuid
        from chances as c where c.planned_close is null
    )
    select * from (select * from recs union all select * from predicted) as a
    order by a.priority desc nulls last, a.deal_id nulls last, a.lead_id, a.action
    limit salesflow.check_page_size(predict_next_actions.page_size);
end
$$;
comment on function api.predict_next_actions(uuid, uuid, uuid, integer, integer, timestamptz) is
'Ranked next actions for the caller: their open recommendations (source recommendation) and what the deal '
'predictions call for (source prediction: a stalling deal, one likely won within horizon_days, a planned '
'close date missing or already past), each with its reason and evidence, on one 0-100 priority scale.';

revoke execute on function api.predict_next_actions(uuid, uuid, uuid, integer, integer, timestamptz) from public;
grant execute on function api.predict_next_actions(uuid, uuid, uuid, integer, integer, timestamptz)
to authenticated, service_role;

-- The AI gateway's analysts' views: spend, error and fallback rates, latency percentiles, and the
-- saving of routed calls against always using the best available model.
-- Analysts' views: live, plain views (not security_invoker), granted to nobody; an installation
-- grants SELECT to its analysts' role, as with analytics.queue_health.

-- Spend per UTC day, organisation, user, task and model, from the daily rollups.
create or replace view analytics.llm_spend_daily as
select
    u.day,
    u.org_id,
    u.user_id,
    u.task,
    u.provider,
    u.model,
    u.requests,
    u.input_tokens,
    u.output_tokens,
    u.cost
from salesflow.llm_usage_daily as u;

-- Error and fallback rates per day, organisation, task and model.
create or replace view analytics.llm_error_rates as
select
    u.day,
    u.org_id,
    u.task,
    u.provider,
    u.model,
    sum(u.requests) as requests,
    sum(u.errors) as errors,
    sum(u.fallbacks) as fallbacks,
    round(sum(u.errors)::numeric / nullif(sum(u.requests), 0), 4) as error_rate,
    -- share of calls that needed at least one fallback hop
    round(sum(u.fallbacks)::numeric / nullif(sum(u.requests), 0), 4) as fallback_rate
from salesflow.llm_usage_daily as u
group by u.day, u.org_id, u.task, u.provider, u.model;

-- Latency and time-to-first-token percentiles per day, organisation, task and model, from the log
-- (percentiles cannot be rolled up from sums).
create or replace view analytics.llm_latency as
select
    (r.started_at at time zone 'UTC')::date as day,
    r.org_id,
    r.task,
    r.provider,
    r.model,
    count(*) as requests,
    percentile_cont(0.5) within group (order by r.latency_ms) as latency_p50_ms,
    percentile_cont(0.95) within group (order by r.latency_ms) as latency_p95_ms,
    percentile_cont(0.5) within group (order by r.time_to_first_token_ms) as ttft_p50_ms,
    percentile_cont(0.95) within group (order by r.time_to_first_token_ms) as ttft_p95_ms
from salesflow.llm_requests as r
group by (r.started_at at time zone 'UTC')::date, r.org_id, r.task, r.provider, r.model;

-- What routing saved: every successful call that names the best model available to it (the baseline) is
-- priced twice on the same tokens, at the catalogue prices in force when it started, once for the
-- model that answered and once for the baseline. Calls to a baseline missing from the catalogue
-- count at their own cost (no saving claimed).
create or replace view analytics.llm_routing_savings as
select
    (r.started_at at time zone 'UTC')::date as day,
    r.org_id,
    r.task,
    count(*) as requests,
    count(*) filter (where (r.provider, r.model) <> (r.baseline_provider, r.baseline_model)) as routed_away,
    sum(r.cost) as cost,
    sum(b.cost) as baseline_cost,
    sum(b.cost) - sum(r.cost) as saving,
    round(1 - sum(r.cost) / nullif(sum(b.cost), 0), 4) as saving_ratio
from salesflow.llm_requests as r
cross join
    lateral (
        select
            coalesce(
                pg_catalog.round(
                    (r.input_tokens * p.input_price_per_mtok + r.output_tokens * p.output_price_per_mtok)
                    / 1000000, 6
                ),
                r.cost
            ) as cost
        from salesflow.llm_price(r.baseline_provider, r.baseline_model, r.started_at) as p
    ) as b
where r.status = 'ok' and r.baseline_model is not null
group by (r.started_at at time zone 'UTC')::date, r.org_id, r.task;

comment on view analytics.llm_spend_daily is 'LLM spend and tokens per UTC day, organisation, user, task and model.';
comment on view analytics.llm_error_rates is 'LLM error and fallback rates per UTC day, organisation, task and model.';
comment on view analytics.llm_latency is 'LLM latency and time-to-first-token p50/p95 per UTC day, organisation, task and model.';

comment on view analytics.llm_routing_savings is
'Cost of routed LLM calls against always using each task''s top model, per UTC day, organisation and task.';

revoke all on analytics.llm_spend_daily, analytics.llm_error_rates, analytics.llm_latency,
analytics.llm_routing_savings from public;

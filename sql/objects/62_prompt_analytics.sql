-- Prompt analytics for analysts (split from 61_prompts.sql): a live, plain view in `analytics`,
-- granted to nobody; an installation grants SELECT to its analysts' role.

-- Versions compared on what they cost and how they do: calls, cost, latency, error rate, and the
-- shares of thumbs up and of accepted / edited / rejected answers among those with feedback.
create or replace view analytics.prompt_version_comparison as
with fb as (
    select
        f.org_id,
        f.request_id,
        avg(f.rating) filter (where f.rating is not null) as rating,
        -- the latest verdict on the answer counts
        (array_agg(f.outcome order by f.created_at desc) filter (where f.outcome is not null))[1] as outcome
    from salesflow.llm_feedback as f
    group by f.org_id, f.request_id
)

select
    r.org_id,
    r.prompt_name,
    r.prompt_version,
    r.experiment_id,
    r.experiment_label,
    count(*) as requests,
    sum(r.cost) as total_cost,
    round(avg(r.cost), 6) as avg_cost,
    percentile_cont(0.5) within group (order by r.latency_ms) as latency_p50_ms,
    percentile_cont(0.95) within group (order by r.latency_ms) as latency_p95_ms,
    round(count(*) filter (where r.status <> 'ok')::numeric / count(*), 4) as error_rate,
    count(fb.rating) as rated,
    round(count(*) filter (where fb.rating > 0)::numeric / nullif(count(fb.rating), 0), 4) as thumbs_up_share,
    count(fb.outcome) as judged,
    round(count(*) filter (where fb.outcome = 'accepted')::numeric / nullif(count(fb.outcome), 0), 4)
        as accepted_share,
    round(count(*) filter (where fb.outcome = 'edited')::numeric / nullif(count(fb.outcome), 0), 4) as edited_share,
    round(count(*) filter (where fb.outcome = 'rejected')::numeric / nullif(count(fb.outcome), 0), 4)
        as rejected_share
from salesflow.llm_requests as r
left join fb on r.org_id = fb.org_id and r.id = fb.request_id
where r.prompt_name is not null
group by r.org_id, r.prompt_name, r.prompt_version, r.experiment_id, r.experiment_label;

comment on view analytics.prompt_version_comparison is
'Per prompt version and experiment arm: calls, cost, latency, error rate, thumbs-up and accepted/edited/rejected shares.';

revoke all on analytics.prompt_version_comparison from public;

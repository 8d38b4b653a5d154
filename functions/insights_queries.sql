-- The insights dashboard's jobs (functions/handlers/detect_anomalies.py, executive_summary.py).

-- name: record_insight_alerts
select salesflow.record_insight_alerts(%(days)s) as written;

-- name: enqueue_executive_summaries
select salesflow.enqueue_executive_summaries(%(week_start)s) as enqueued;

-- name: executive_summary_exists
select 1 from salesflow.executive_summaries
where org_id = %(org_id)s and week_start = %(week_start)s and language = %(language)s;

-- name: executive_summary_figures
select salesflow.executive_summary_figures(%(org_id)s, %(week_start)s) as figures;

-- name: store_executive_summary
insert into salesflow.executive_summaries (
    org_id, week_start, language, content, figures, source, offline_model, request_id, prompt_name,
    prompt_version, model, job_id
)
select
    %(org_id)s, %(week_start)s, %(language)s, %(content)s, %(figures)s, %(source)s, %(offline_model)s,
    %(request_id)s::bigint, r.prompt_name, r.prompt_version, coalesce(%(model)s, r.model), %(job_id)s
from (select 1) as one
left join salesflow.llm_requests as r on r.org_id = %(org_id)s and r.id = %(request_id)s::bigint
on conflict (org_id, week_start, language) do nothing;

-- name: refresh_forecasts
select salesflow.refresh_forecasts(%(job_id)s) as stored;

-- 0026: lead_channel_stats remembers each lead and channel's latest touch, so a statement that
-- only appends touches (every new one later than what is kept) updates the counts in place
-- instead of recomputing every touch of the leads it touched (sql/objects/79_analytics_views.sql).
-- Run once. Functions, triggers and grants live in sql/objects/79_*.

-- null = not known yet (rows from before this migration): the next touch of that lead and channel
-- recomputes the row, which fills them
alter table salesflow.lead_channel_stats
add column last_at timestamptz,
add column last_direction salesflow.direction;

-- lead_channel_touch_stats gains the two columns; a changed result type needs the old one gone
drop function if exists salesflow.lead_channel_touch_stats(uuid, uuid[]);

-- The contact window may let a lead's older responses fade: each counts 0.5^(age in days /
-- recency_half_life_days) in api.get_best_contact_window. null = every response counts one.
alter table salesflow.contact_pattern_fits
add column recency_half_life_days real check (recency_half_life_days > 0);

-- open tasks per lead: salesflow.lead_health counts a lead's overdue tasks, and
-- analytics.leads_scored asks that of every lead at each refresh (one probe here per lead
-- instead of reading every activity of every lead)
create index activities_lead_open_tasks_idx on salesflow.activities (org_id, lead_id, due_at)
where kind = 'task' and completed_at is null;

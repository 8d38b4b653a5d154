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

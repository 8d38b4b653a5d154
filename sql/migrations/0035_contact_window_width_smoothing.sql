-- 0035: the contact window's organisation pattern is smoothed toward its day × hour decomposition
-- (how busy each weekday is times how busy each hour of the day is), and the weight of the
-- segment's own pattern is a setting instead of a constant; api.get_best_contact_window gains
-- window_hours (windows of 1-12 hours). Run once. Functions and grants live in sql/objects/77_*.

-- p_org = (O_h + org_smoothing * q_h) / (O + org_smoothing), q_h = P(day) * P(hour of the day);
-- p_seg = (S_h + segment_weight * p_org) / (S + segment_weight)
alter table salesflow.contact_pattern_fits
add column org_smoothing real not null default 168 check (org_smoothing > 0),
add column segment_weight real not null default 50 check (segment_weight > 0);

-- the RPC gains an argument: the three-argument version goes so that calls stay unambiguous
drop function if exists api.get_best_contact_window(uuid, uuid, timestamptz);

-- Coaching and competitor rules of conversation analysis (issue 14), as rows of the recommendation
-- rules (rules as data, sql/objects/75_recommendations.sql): their detectors in
-- salesflow.recommendation_candidates read the latest finished analysis of each call or meeting of
-- the last `days` (salesflow.conversation_insights), and an organisation tunes the thresholds with
-- api.update_recommendation_rule. The figures are computed from segment timing and speakers
-- (functions/conversation.py), never guessed by a model. The thresholds, and why:
--   coaching_talk_ratio     the rep spoke more than max_rep_share of the talk time. Call studies of
--                           won deals put the best reps near 43-46 %; 65 % leaves room for demos.
--   coaching_monologue      the rep's longest uninterrupted run was longer than max_seconds (150 s:
--                           listeners drift after two to three minutes of one voice).
--   coaching_questions      a call of at least min_seconds in which the rep asked fewer than
--                           min_questions questions (a question: a sentence ending in "?").
--   coaching_interruptions  the rep started speaking before the other speaker had finished more than
--                           max_interruptions times (a segment starting before the previous
--                           speaker's segment ended).
--   competitor_mentioned    a competitor from the organisation's own list came up: an alert to
--                           prepare the comparison before the next call.
-- The coaching rules' action is 'coach' (advice to the rep, counted apart from sales calls); the
-- competitor alert's is 'call', the call it prepares. The detector takes the rule's action.
insert into salesflow.recommendation_rules (
    org_id, rule_key, version, action_type, base_priority, half_life, ttl, params, description
)
values
(
    null, 'competitor_mentioned', 1, 'call', 85, '2 days', '7 days', '{"days": 14}',
    'A competitor from the organisation''s list came up in a call or meeting in the last days: prepare the comparison.'
),
(
    null, 'coaching_talk_ratio', 1, 'coach', 45, '3 days', '10 days', '{"days": 14, "max_rep_share": 0.65}',
    'The rep spoke more than max_rep_share of the talk time on a recent call: ask more, listen more on the next one.'
),
(
    null, 'coaching_monologue', 1, 'coach', 40, '3 days', '10 days', '{"days": 14, "max_seconds": 150}',
    'The rep''s longest monologue on a recent call ran longer than max_seconds: pause and check in sooner.'
),
(
    null, 'coaching_questions', 1, 'coach', 40, '3 days', '10 days', '{"days": 14, "min_questions": 3, "min_seconds": 300}',
    'A call of at least min_seconds in which the rep asked fewer than min_questions questions: prepare discovery questions.'
),
(
    null, 'coaching_interruptions', 1, 'coach', 35, '3 days', '10 days', '{"days": 14, "max_interruptions": 3}',
    'The rep interrupted the other speaker more than max_interruptions times on a recent call: let them finish.'
)
on conflict do nothing;

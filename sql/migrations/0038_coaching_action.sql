-- 0038: coaching recommendations get an action type of their own, 'coach', instead of 'call', so a
-- rep's list, the acceptance figures per action type and the next actions of a deal no longer count
-- advice about the rep's own talking as sales calls (issue 14).
-- Run once. The rules that use it live in sql/objects/86_conversation_rules.sql, their detector in
-- 75_recommendations.sql.
--
-- ALTER TYPE ... ADD VALUE would be the short way, but a value added so cannot be used before its
-- transaction commits, and the runner applies the migrations and then the object files in one
-- transaction (the object files' rules name 'coach'). So the type is rebuilt with the new value:
-- the values of a type created in the running transaction can be used at once.

alter type salesflow.recommendation_action rename to recommendation_action_0012;

create type salesflow.recommendation_action as enum (
    'call', 'email', 'whatsapp', 'meeting', 'send_content',
    'assess_bant',         -- a qualification gap: budget, authority, need or timeline unknown
    'profile_personality', -- no DISG profile yet although there is enough conversation to read one
    're_engage',           -- the lead went quiet
    'close_out',           -- a deal past its expected close: win it, lose it or move the date
    'update_context',      -- the lead's record is stale or incomplete
    'review_compliance',   -- an AI output about the lead was withheld by the compliance check
    -- advice to the rep about their own call or meeting (talk share, monologue, questions,
    -- interruptions): for the rep, not an action with the customer
    'coach'
);

-- What names the old type in its signature or columns; the object files applied after this
-- migration create them again with the new one.
drop view if exists analytics.followups_scored;
drop function if exists api.create_ai_recommendation(
    uuid, uuid, salesflow.recommendation_action_0012, text, uuid, uuid, real, interval, interval, timestamptz
);
drop function if exists api.get_followups(uuid, uuid, integer);
drop function if exists api.get_playbook_execution(uuid, uuid, timestamptz);
drop function if exists api.get_recommendation_acceptance(uuid, timestamptz);
drop function if exists api.list_recommendation_rules(uuid);
drop function if exists salesflow.recommendation_candidates(uuid, uuid[], timestamptz);

alter type api.recommendation alter attribute action_type type salesflow.recommendation_action;

-- The coaching rules and what they made are re-labelled, history included, so the figures per action
-- type are comparable across the change. This renames the action's kind; the rule's condition,
-- thresholds and versions are unchanged, so no rule version is added for it.
alter table salesflow.recommendation_rules
alter column action_type type salesflow.recommendation_action using (
    case when rule_key like 'coaching\_%' then 'coach' else action_type::text end
)::salesflow.recommendation_action;

alter table salesflow.ai_recommendations
alter column action_type type salesflow.recommendation_action using (
    case when source = 'rule' and rule_key like 'coaching\_%' then 'coach' else action_type::text end
)::salesflow.recommendation_action;

alter table salesflow.playbook_steps
alter column action_type type salesflow.recommendation_action using action_type::text::salesflow.recommendation_action;

-- fails, and rolls the whole run back, if anything still uses the old type
drop type salesflow.recommendation_action_0012;

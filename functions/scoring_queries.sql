-- Queries of the scoring trainer (functions/scoring.py).

-- name: scoring_settings
select coalesce((settings -> 'scoring' ->> 'min_leads')::integer, 1000) as min_leads,
       coalesce((settings -> 'scoring' ->> 'min_conversions')::integer, 120) as min_conversions,
       coalesce((settings -> 'scoring' ->> 'max_bias_difference')::double precision, 0.1) as max_bias_difference
from salesflow.organizations where id = %(org)s;

-- name: training_leads
-- decided leads created before the cut-off; each one's features as of its outcome date, if earlier
select c.lead_id, (c.status = 'converted')::integer as y,
       least(%(cutoff)s::timestamptz, coalesce(c.decided_at, %(cutoff)s::timestamptz)) as as_of
from salesflow.lead_conversions as c
join salesflow.leads as l on l.org_id = c.org_id and l.id = c.lead_id
where c.org_id = %(org)s and c.status <> 'open' and l.created_at < %(cutoff)s
order by c.lead_id;

-- name: features
select lead_id, feature, num_value, cat_value
from salesflow.lead_features(%(org)s, %(leads)s::uuid[], %(as_of)s::timestamptz[]);

-- name: model_log_odds
select lead_id, log_odds from salesflow.model_log_odds(%(org)s, %(model)s, %(leads)s::uuid[], %(as_of)s::timestamptz[]);

-- name: active_model
select id, version from salesflow.ai_models
where org_id = %(org)s and name = 'lead_conversion' and status = 'active';

-- name: sensitive_attributes
select name from salesflow.lead_attribute_defs where org_id = %(org)s and sensitive order by name;

-- name: lead_attributes
select id as lead_id, attributes from salesflow.leads where org_id = %(org)s and id = any(%(leads)s::uuid[]);

-- name: insert_model
insert into salesflow.ai_models (
    org_id, version, learner, library_versions, cutoff, training_rows, training_conversions, intercept, metrics,
    bias_report, bias_flagged, card
)
select %(org)s, coalesce(max(version), 0) + 1, %(learner)s, %(library_versions)s, %(cutoff)s, %(training_rows)s,
       %(training_conversions)s, %(intercept)s, %(metrics)s, %(bias_report)s, %(bias_flagged)s, %(card)s
from salesflow.ai_models where org_id = %(org)s and name = 'lead_conversion'
returning id, version;

-- name: insert_feature
insert into salesflow.scoring_model_features (
    org_id, model_id, feature, value_type, edges, categories, contributions, missing_contribution,
    other_contribution, importance
) values (
    %(org)s, %(model)s, %(feature)s, %(value_type)s, %(edges)s, %(categories)s, %(contributions)s, %(missing)s,
    %(other)s, %(importance)s
);

-- name: decide_model
select salesflow.decide_scoring_model(%(org)s, %(model)s, %(activate)s, %(decision)s) as rescored;

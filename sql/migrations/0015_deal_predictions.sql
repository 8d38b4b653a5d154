-- Deal predictions: a deal's stage history, so that time in stage (stall risk) and the state of
-- the pipeline at a past date can be read. Filled by a statement-level trigger on deals
-- (sql/objects/87_predictions.sql); existing deals get one row for the stage they are in.

create table salesflow.deal_stage_changes (
    org_id uuid not null,
    deal_id uuid not null,
    stage salesflow.deal_stage not null,
    changed_at timestamptz not null,
    -- when the row was written: imports may record a change long after it happened
    recorded_at timestamptz not null default now(),
    primary key (org_id, deal_id, changed_at, stage),
    foreign key (org_id, deal_id) references salesflow.deals (org_id, id) on delete cascade
);
comment on table salesflow.deal_stage_changes is
'When each deal entered each stage; written only by the deals trigger. Read by the prediction RPCs.';

insert into salesflow.deal_stage_changes (org_id, deal_id, stage, changed_at)
select
    d.org_id,
    d.id,
    d.stage,
    coalesce(d.closed_at, d.created_at) as changed_at
from salesflow.deals as d;

-- Audit that cannot be skipped and holds no personal text (issue 9, section 3).
--
-- Decision: the two ledgers (llm_requests, compliance_log) outlive their organisation. Deleting an
-- organisation no longer cascades its audit trail away: org_id stays in the rows as a plain value,
-- and the rows leave only through salesflow.apply_audit_retention, which logs every run here.
alter table salesflow.llm_requests drop constraint if exists llm_requests_org_id_fkey;
alter table salesflow.compliance_log drop constraint if exists compliance_log_org_id_fkey;

create table salesflow.audit_retention_runs (
    id bigint generated always as identity primary key,
    table_name text not null check (table_name in ('llm_requests', 'compliance_log')),
    -- rows created before this were deleted
    cutoff timestamptz not null,
    deleted bigint not null check (deleted >= 0),
    run_by text not null default current_user,
    run_at timestamptz not null default now()
);
alter table salesflow.audit_retention_runs enable row level security;

-- Findings kept a raw excerpt of the judged text; from now on they keep rule ids, offsets and a
-- hash of the matched span. Old rows are scrubbed to their rule ids (their offsets are unknown).
-- A lead's id in llm_requests.subject_id is replaced by the hash settle_request now writes.
-- The append-only triggers are set aside for these two statements only.
alter table salesflow.compliance_log disable trigger user;
update salesflow.compliance_log as c
set
    findings = coalesce((
        select jsonb_agg(jsonb_build_object('rule_id', f.value -> 'rule_id', 'severity', f.value -> 'severity'))
        from jsonb_array_elements(c.findings) as f
    ), '[]'::jsonb)
where jsonb_path_exists(c.findings, '$[*].excerpt') or jsonb_path_exists(c.findings, '$[*].message');
alter table salesflow.compliance_log enable trigger user;

alter table salesflow.llm_requests disable trigger user;
update salesflow.llm_requests as r
set subject_id = encode(sha256(convert_to(r.org_id::text || ':' || r.subject_id, 'UTF8')), 'hex')
where r.subject_id is not null and r.subject_id !~ '^[0-9a-f]{64}$';
alter table salesflow.llm_requests enable trigger user;

alter table salesflow.compliance_log
add constraint compliance_log_findings_no_text check (
    not jsonb_path_exists(findings, '$[*].excerpt') and not jsonb_path_exists(findings, '$[*].message')
);
alter table salesflow.llm_requests
add constraint llm_requests_subject_hashed check (subject_id ~ '^[0-9a-f]{64}$');

-- 'NaN' is a numeric that passes amount >= 0 (NaN sorts above every number): refuse it.
alter table salesflow.deals
add constraint deals_amount_is_a_number check (amount <> 'NaN'::numeric);

-- An e-mail address has at most 254 characters (RFC 5321), a domain name 253 (RFC 1035). Longer
-- values used to reach the unique index and fail there as a program limit (54000).
alter table salesflow.leads
add constraint leads_email_length check (char_length(email) <= 254);
alter table salesflow.companies
add constraint companies_domain_length check (char_length(domain) <= 253);

-- Each member rates a request once (only its requester or an owner/admin may: the insert policy).
-- Earlier duplicates keep their first rating.
delete from salesflow.llm_feedback as f
using salesflow.llm_feedback as earlier
where
    earlier.org_id = f.org_id and earlier.request_id = f.request_id and earlier.user_id = f.user_id
    and (earlier.created_at, earlier.id) < (f.created_at, f.id);
create unique index llm_feedback_once on salesflow.llm_feedback (org_id, request_id, user_id);

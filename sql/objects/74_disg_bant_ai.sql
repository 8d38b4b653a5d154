-- DISG profiles and BANT proposals made by the worker through the AI gateway, DISG guidance as
-- data, and the feature-flag check every AI request RPC makes.

alter table salesflow.disg_guidance enable row level security;
-- no policies: app roles read the guidance only through salesflow.disg_guidance_for
revoke all on salesflow.disg_guidance from anon, authenticated, service_role;

-- The shipped guidance, re-applied on every deploy (an edit here replaces the row's text).
insert into salesflow.disg_guidance as g (dominant_type, language, aspect, position, guidance)
values
('D', 'en', 'summary', 1, 'Direct and brief, results first, decides quickly.'),
('D', 'en', 'do', 1, 'Lead with the outcome and the decision you need.'),
('D', 'en', 'do', 2, 'Offer two or three clear options instead of one long explanation.'),
('D', 'en', 'do', 3, 'Keep commitments short and concrete: who, what, by when.'),
('D', 'en', 'avoid', 1, 'Small talk and long introductions before the point.'),
('D', 'en', 'avoid', 2, 'Vague answers to direct questions.'),
('D', 'en', 'pace', 1, 'Fast: answer promptly and keep meetings short.'),
('D', 'en', 'email', 1, 'Three to five lines, the ask in the first sentence.'),
('D', 'de', 'summary', 1, 'Direkt und knapp, Ergebnisse zuerst, entscheidet schnell.'),
('D', 'de', 'do', 1, 'Beginnen Sie mit dem Ergebnis und der Entscheidung, die Sie brauchen.'),
('D', 'de', 'do', 2, 'Bieten Sie zwei oder drei klare Optionen statt einer langen Erklärung.'),
('D', 'de', 'do', 3, 'Halten Sie Vereinbarungen kurz und konkret: wer, was, bis wann.'),
('D', 'de', 'avoid', 1, 'Smalltalk und lange Einleitungen vor dem eigentlichen Punkt.'),
('D', 'de', 'avoid', 2, 'Ausweichende Antworten auf direkte Fragen.'),
('D', 'de', 'pace', 1, 'Schnell: antworten Sie zügig und halten Sie Termine kurz.'),
('D', 'de', 'email', 1, 'Drei bis fünf Zeilen, die Bitte im ersten Satz.'),
('I', 'en', 'summary', 1, 'Open and enthusiastic, people and ideas first.'),
('I', 'en', 'do', 1, 'Make room for conversation and share the bigger picture.'),
('I', 'en', 'do', 2, 'Use stories and examples of people who succeeded with it.'),
('I', 'en', 'do', 3, 'Confirm the details in writing afterwards, kindly.'),
('I', 'en', 'avoid', 1, 'Dry lists of figures without context.'),
('I', 'en', 'avoid', 2, 'Cutting the conversation short.'),
('I', 'en', 'pace', 1, 'Lively, but agree on the next step before you part.'),
('I', 'en', 'email', 1, 'Personal and warm, one clear ask, a short recap of what you agreed.'),
('I', 'de', 'summary', 1, 'Offen und begeisterungsfähig, Menschen und Ideen zuerst.'),
('I', 'de', 'do', 1, 'Lassen Sie Raum für das Gespräch und zeigen Sie das große Ganze.'),
('I', 'de', 'do', 2, 'Arbeiten Sie mit Geschichten und Beispielen von Menschen, die damit Erfolg hatten.'),
('I', 'de', 'do', 3, 'Halten Sie die Details danach freundlich schriftlich fest.'),
('I', 'de', 'avoid', 1, 'Trockene Zahlenlisten ohne Zusammenhang.'),
('I', 'de', 'avoid', 2, 'Das Gespräch abrupt zu beenden.'),
('I', 'de', 'pace', 1, 'Lebhaft, aber vereinbaren Sie den nächsten Schritt, bevor Sie auseinandergehen.'),
('I', 'de', 'email', 1, 'Persönlich und herzlich, eine klare Bitte, eine kurze Zusammenfassung des Vereinbarten.'),
('S', 'en', 'summary', 1, 'Calm and patient, values reliability and a steady pace.'),
('S', 'en', 'do', 1, 'Explain the steps ahead and what stays the same for their team.'),
('S', 'en', 'do', 2, 'Give them time to consult colleagues before deciding.'),
('S', 'en', 'do', 3, 'Keep every promise, however small.'),
('S', 'en', 'avoid', 1, 'Pressure, surprises and sudden changes of plan.'),
('S', 'en', 'avoid', 2, 'Pushing for a decision in the first conversation.'),
('S', 'en', 'pace', 1, 'Steady: regular, predictable contact.'),
('S', 'en', 'email', 1, 'Friendly and calm, the next steps in order, no deadline pressure.'),
('S', 'de', 'summary', 1, 'Ruhig und geduldig, schätzt Verlässlichkeit und ein gleichmäßiges Tempo.'),
('S', 'de', 'do', 1, 'Erklären Sie die nächsten Schritte und was für das Team gleich bleibt.'),
('S', 'de', 'do', 2, 'Geben Sie Zeit, sich vor der Entscheidung mit Kollegen abzustimmen.'),
('S', 'de', 'do', 3, 'Halten Sie jede Zusage ein, auch die kleinste.'),
('S', 'de', 'avoid', 1, 'Druck, Überraschungen und plötzliche Planänderungen.'),
('S', 'de', 'avoid', 2, 'Im ersten Gespräch auf eine Entscheidung zu drängen.'),
('S', 'de', 'pace', 1, 'Gleichmäßig: regelmäßiger, vorhersehbarer Kontakt.'),
('S', 'de', 'email', 1, 'Freundlich und ruhig, die nächsten Schritte der Reihe nach, ohne Termindruck.'),
('G', 'en', 'summary', 1, 'Precise and analytical, wants facts, details and proof.'),
('G', 'en', 'do', 1, 'Bring data, references and documentation they can check.'),
('G', 'en', 'do', 2, 'Answer questions completely and in writing.'),
('G', 'en', 'do', 3, 'Name limits and risks openly before they find them.'),
('G', 'en', 'avoid', 1, 'Superlatives and claims without evidence.'),
('G', 'en', 'avoid', 2, 'Rushing them past their questions.'),
('G', 'en', 'pace', 1, 'Thorough: allow time for evaluation and follow up with substance.'),
('G', 'en', 'email', 1, 'Structured, with figures and sources; attachments they can review.'),
('G', 'de', 'summary', 1, 'Genau und analytisch, will Fakten, Details und Belege.'),
('G', 'de', 'do', 1, 'Bringen Sie Daten, Referenzen und Unterlagen, die sich prüfen lassen.'),
('G', 'de', 'do', 2, 'Beantworten Sie Fragen vollständig und schriftlich.'),
('G', 'de', 'do', 3, 'Nennen Sie Grenzen und Risiken offen, bevor sie selbst darauf stoßen.'),
('G', 'de', 'avoid', 1, 'Superlative und Behauptungen ohne Beleg.'),
('G', 'de', 'avoid', 2, 'Über offene Fragen hinwegzugehen.'),
('G', 'de', 'pace', 1, 'Gründlich: lassen Sie Zeit für die Prüfung und liefern Sie Inhalte nach.'),
('G', 'de', 'email', 1, 'Gegliedert, mit Zahlen und Quellen; Anhänge zum Nachprüfen.')
on conflict (dominant_type, language, aspect, position) do update set guidance = excluded.guidance;

-- The guidance for one type and language as {summary, do[], avoid[], pace, email}.
create or replace function salesflow.disg_guidance_for(p_type text, p_language text) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select pg_catalog.jsonb_object_agg(x.aspect, case when x.aspect in ('do', 'avoid') then x.texts else x.texts -> 0 end)
    from (
        select g.aspect, pg_catalog.jsonb_agg(g.guidance order by g.position) as texts
        from salesflow.disg_guidance as g
        where g.dominant_type = p_type and g.language = p_language
        group by g.aspect
    ) as x
$$;
comment on function salesflow.disg_guidance_for(text, text) is
'Shipped DISG guidance for a type and language. security definer, justified: the guidance table is '
'global reference data with no policies; this returns only its text, never tenant data.';

-- Refuse an AI request when its feature flag is off for the caller (or the lead, by the flag's
-- rollout_by) or the lead's lifecycle stage is outside the flag's segments: 403 with the reason.
create or replace function salesflow.require_ai_feature(
    p_org uuid, p_feature text, p_lead uuid default null, p_user uuid default null
) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    subject uuid;
    stage text;
begin
    select case f.rollout_by when 'lead' then p_lead else coalesce(p_user, (select auth.uid())) end
    into subject
    from salesflow.ai_feature_flags as f
    where f.org_id = p_org and f.feature = p_feature;
    select l.lifecycle_stage::text into stage from salesflow.leads as l where l.org_id = p_org and l.id = p_lead;
    if not salesflow.feature_enabled(p_org, p_feature, subject, stage) then
        raise sqlstate 'PT403' using
            message = pg_catalog.format('the AI feature %s is switched off here', p_feature),
            detail = 'Its flag is disabled, or this user or lead is outside its rollout or segments.',
            hint = 'An owner or admin can change it with api.set_ai_feature_flag.';
    end if;
end
$$;
comment on function salesflow.require_ai_feature(uuid, text, uuid, uuid) is
'Raise PT403 when an AI feature is off for this user or lead. security definer, justified: it reads '
'only the flag and the lead''s stage of the organisation it is given, and returns nothing.';

-- Queue the DISG profiler over the lead's own messages. Security definer because app roles may
-- not write the queue; it checks membership and the lead through the caller's rights first.
create or replace function api.analyze_personality(org_id uuid, lead_id uuid, language text default 'en')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform salesflow.check_ai_request(
        analyze_personality.org_id, analyze_personality.lead_id, analyze_personality.language, 'a profile'
    );
    perform from salesflow.messages as m
    where
        m.org_id = analyze_personality.org_id and m.lead_id = analyze_personality.lead_id
        and m.direction = 'inbound';
    if not found then
        raise sqlstate 'PT422' using
            message = pg_catalog.format('lead %s has no messages of their own to profile', analyze_personality.lead_id),
            hint = 'A DISG profile reads only what the lead wrote; record an inbound message first.';
    end if;
    perform salesflow.require_ai_feature(analyze_personality.org_id, 'profiling', analyze_personality.lead_id);
    return salesflow.enqueue(
        'analyze_personality',
        pg_catalog.jsonb_build_object(
            'lead_id', analyze_personality.lead_id, 'language', analyze_personality.language,
            'user_id', (select auth.uid())
        ),
        org_id => analyze_personality.org_id,
        idempotency_key => pg_catalog.format('analyze_personality:%s', analyze_personality.lead_id),
        rerun_if_running => false
    );
end
$$;
comment on function api.analyze_personality(uuid, uuid, text) is
'Queue a DISG profile of a lead from the lead''s own messages; returns the job id. '
'Runs as security definer, justified: app roles may not write the job queue; it checks the caller is an '
'owner, admin or rep, that the lead exists there and that the profiling flag is on before it enqueues one job.';

-- The worker stores a profile: quotes that do not occur in the lead's own (inbound) messages are
-- dropped, and a profile with little evidence keeps a confidence of at most 0.4.
create or replace function salesflow.store_personality_profile(
    p_org uuid, p_lead uuid, p_job bigint, p_request bigint, p_scores jsonb, p_quotes jsonb,
    p_confidence double precision, p_source text, p_offline boolean, p_language text
) returns uuid
language plpgsql
security invoker
set search_path = ''
as $$
declare
    found_quotes jsonb;
    messages integer;
    little boolean;
    made uuid;
begin
    select pg_catalog.count(*) into messages from salesflow.messages as m
    where m.org_id = p_org and m.lead_id = p_lead and m.direction = 'inbound';
    select coalesce(pg_catalog.jsonb_agg(q.quote order by q.n), '[]'::jsonb) into found_quotes
    from (
        select distinct on (pg_catalog.lower(q.quote)) q.quote, q.n
        from (
            select pg_catalog.btrim(pg_catalog.regexp_replace(e.value, '\s+', ' ', 'g')) as quote, e.n
            from pg_catalog.jsonb_array_elements_text(coalesce(p_quotes, '[]')) with ordinality as e (value, n)
        ) as q
        where
            pg_catalog.length(q.quote) between 3 and 300
            and exists (
                select from salesflow.messages as m
                where
                    m.org_id = p_org and m.lead_id = p_lead and m.direction = 'inbound'
                    and pg_catalog.strpos(
                        pg_catalog.lower(pg_catalog.regexp_replace(m.body, '\s+', ' ', 'g')), pg_catalog.lower(q.quote)
                    ) > 0
            )
        order by pg_catalog.lower(q.quote), q.n
    ) as q;
    found_quotes := coalesce((select pg_catalog.jsonb_agg(v) from (
        select v from pg_catalog.jsonb_array_elements(found_quotes) with ordinality as a (v, n) order by a.n limit 5
    ) as f), '[]'::jsonb);
    little := messages < 3 or pg_catalog.jsonb_array_length(found_quotes) < 2;
    insert into salesflow.personality_profiles (org_id, lead_id, d, i, s, g, confidence, evidence_quotes,
                                                message_count, source, offline_model, request_id, job_id, language)
    values (p_org, p_lead,
            pg_catalog.round(greatest(0, least(1, (p_scores ->> 'd')::numeric)), 3),
            pg_catalog.round(greatest(0, least(1, (p_scores ->> 'i')::numeric)), 3),
            pg_catalog.round(greatest(0, least(1, (p_scores ->> 's')::numeric)), 3),
            pg_catalog.round(greatest(0, least(1, (p_scores ->> 'g')::numeric)), 3),
            pg_catalog.round(greatest(0, least(case when little then 0.4 else 1 end, p_confidence))::numeric, 3),
            found_quotes, messages, p_source, p_offline, p_request, p_job, p_language)
    on conflict (org_id, job_id) where job_id is not null do nothing
    returning id into made;
    return made;
end
$$;

-- How to talk to this lead: the latest profile's dominant type and the shipped guidance for it.
create or replace function api.get_personality_recommendations(org_id uuid, lead_id uuid, language text default 'en')
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    p salesflow.personality_profiles;
begin
    if get_personality_recommendations.language is null or get_personality_recommendations.language not in ('de', 'en')
        then
        raise sqlstate '22023' using message = 'language must be de or en';
    end if;
    perform api.get_lead(get_personality_recommendations.org_id, get_personality_recommendations.lead_id);
    select * into p from salesflow.personality_profiles as x
    where x.org_id = get_personality_recommendations.org_id and x.lead_id = get_personality_recommendations.lead_id
    order by x.created_at desc, x.id desc limit 1;
    if p.id is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('lead %s has no personality profile yet', get_personality_recommendations.lead_id),
            hint = 'Ask for one with api.analyze_personality.';
    end if;
    return pg_catalog.jsonb_build_object(
        'lead_id', p.lead_id, 'profile_id', p.id, 'dominant_type', p.dominant_type,
        'scores', pg_catalog.jsonb_build_object('d', p.d, 'i', p.i, 's', p.s, 'g', p.g),
        'confidence', p.confidence, 'little_evidence', p.little_evidence, 'message_count', p.message_count,
        'evidence_quotes', p.evidence_quotes, 'source', p.source, 'offline_model', p.offline_model,
        'created_at', p.created_at,
        'guidance', salesflow.disg_guidance_for(p.dominant_type, get_personality_recommendations.language),
        'caveat', case
            when get_personality_recommendations.language = 'de' then
                'Eine Hypothese über den Schreibstil, keine psychologische Beurteilung'
                || case when p.little_evidence then '; wenig Belege: mit Vorsicht verwenden.' else '.' end
            else 'A hypothesis about writing style, not a psychological assessment'
                || case when p.little_evidence then '; little evidence: use with care.' else '.' end
        end
    );
end
$$;
comment on function api.get_personality_recommendations(uuid, uuid, text) is
'How to communicate with a lead (DE/EN guidance kept as data) for the dominant DISG type of their latest '
'profile, with its scores, evidence quotes and a caveat; little_evidence marks a profile from few messages.';

-- Queue the deal medic's BANT reading of the conversation: it arrives as a proposal.
create or replace function api.request_bant_assessment(org_id uuid, lead_id uuid, language text default 'en')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform salesflow.check_ai_request(
        request_bant_assessment.org_id, request_bant_assessment.lead_id, request_bant_assessment.language, 'a BANT proposal'
    );
    perform salesflow.require_ai_feature(request_bant_assessment.org_id, 'bant', request_bant_assessment.lead_id);
    return salesflow.enqueue(
        'propose_bant',
        pg_catalog.jsonb_build_object(
            'lead_id', request_bant_assessment.lead_id, 'language', request_bant_assessment.language,
            'user_id', (select auth.uid())
        ),
        org_id => request_bant_assessment.org_id,
        idempotency_key => pg_catalog.format('propose_bant:%s', request_bant_assessment.lead_id),
        rerun_if_running => false
    );
end
$$;
comment on function api.request_bant_assessment(uuid, uuid, text) is
'Queue an AI BANT assessment of a lead from its conversation; returns the job id. The result is a proposal '
'(status proposed) that counts only once a member accepts it with api.review_bant_proposal. '
'Runs as security definer, justified: app roles may not write the job queue; it checks the caller is an '
'owner, admin or rep, that the lead exists there and that the bant flag is on before it enqueues one job.';

-- The worker stores the model's answer as a proposal, once per job.
create or replace function salesflow.store_bant_proposal(
    p_org uuid, p_lead uuid, p_job bigint, p_request bigint, p_answer jsonb, p_offline boolean
) returns uuid
language sql
security invoker
set search_path = ''
as $$
    insert into salesflow.bant_assessments (org_id, lead_id, budget, authority, need, timeline, notes, method,
                                            status, request_id, job_id, evidence, offline_model)
    values (p_org, p_lead, (p_answer ->> 'budget')::smallint, (p_answer ->> 'authority')::smallint,
            (p_answer ->> 'need')::smallint, (p_answer ->> 'timeline')::smallint,
            -- no request: the word-list baseline answered (the offline model gave nothing usable)
            case
                when p_request is null then
                    pg_catalog.format('Offline word-list baseline, not a model; confidence %s', p_answer ->> 'confidence')
                else pg_catalog.format('AI proposal, confidence %s', p_answer ->> 'confidence')
            end, 'ai', 'proposed', p_request,
            p_job, coalesce(p_answer -> 'evidence', '{}'), p_offline)
    on conflict (org_id, job_id) where job_id is not null do nothing
    returning id
$$;

-- Accept or reject an AI proposal. An accepted one becomes the lead's current BANT from then on.
create or replace function api.review_bant_proposal(org_id uuid, assessment_id uuid, decision text)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
    r salesflow.bant_assessments;
begin
    if review_bant_proposal.decision is null or review_bant_proposal.decision not in ('accepted', 'rejected') then
        raise sqlstate '22023' using message = 'decision must be accepted or rejected';
    end if;
    update salesflow.bant_assessments as b
    -- current BANT orders by coalesce(reviewed_at, assessed_at): an accepted proposal is current from now on
    set status = review_bant_proposal.decision, reviewed_at = pg_catalog.now(), reviewed_by = (select auth.uid())
    where
        b.org_id = review_bant_proposal.org_id and b.id = review_bant_proposal.assessment_id
        and b.status = 'proposed'
    returning b.* into r;
    if r.id is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('BANT proposal %s not found', review_bant_proposal.assessment_id),
            hint = 'It does not exist, was reviewed already, or you may not review in this organisation.';
    end if;
    return pg_catalog.to_jsonb(r);
end
$$;
comment on function api.review_bant_proposal(uuid, uuid, text) is
'Accept or reject an AI BANT proposal (owners, admins, reps); an accepted one becomes the current assessment, '
'a rejected one stays in the history. Nothing the AI proposes counts before this.';

revoke all on function salesflow.disg_guidance_for(text, text), salesflow.require_ai_feature(uuid, text, uuid, uuid),
salesflow.store_personality_profile(uuid, uuid, bigint, bigint, jsonb, jsonb, double precision, text, boolean, text),
salesflow.store_bant_proposal(uuid, uuid, bigint, bigint, jsonb, boolean),
api.analyze_personality(uuid, uuid, text), api.get_personality_recommendations(uuid, uuid, text),
api.request_bant_assessment(uuid, uuid, text), api.review_bant_proposal(uuid, uuid, text) from public;
grant execute on function salesflow.disg_guidance_for(text, text), salesflow.require_ai_feature(uuid, text, uuid, uuid),
api.analyze_personality(uuid, uuid, text), api.get_personality_recommendations(uuid, uuid, text),
api.request_bant_assessment(uuid, uuid, text), api.review_bant_proposal(uuid, uuid, text)
to authenticated, service_role;

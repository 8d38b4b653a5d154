-- Memory extraction by the worker (issue 13): who extracted a fact, and how far each lead's
-- messages have been read for facts.

-- null: entered by a person (api.record_memory_fact); 'model:<name>': extracted by that model
-- through the gateway (request_id names the logged call); 'rules:<version>': the offline,
-- deterministic baseline (patterns for budgets, dates, tools, roles, pains, objections)
alter table salesflow.memory_facts
add column extracted_by text check (extracted_by ~ '^(model|rules):[ -~]{1,200}$'),
add column request_id bigint;

-- the extraction cursor beside the summary's: the last message read for facts, and how many
-- arrived since (the messages trigger queues extract_memory when enough did)
alter table salesflow.conversation_summaries
add column facts_until timestamptz,
add column facts_message_id uuid,
add column facts_pending integer not null default 0 check (facts_pending >= 0);

-- Sentiment per message: a score from -1 to 1, its label and what gave it ('lexicon:<name>' for the
-- offline lexicons, 'model:<name>' for a reading through the gateway); written by the
-- score_sentiment job, null until it ran.
alter table salesflow.messages
add column sentiment real check (sentiment between -1 and 1),
add column sentiment_label text check (sentiment_label in ('positive', 'neutral', 'negative')),
add column sentiment_source text check (sentiment_source ~ '^(lexicon|model):[ -~]{1,200}$');

-- Orphaned budget reservations (issue 9, section 2): reserve_budget sweeps its own organisation's
-- expired reservations before summing, but an organisation that never calls again would keep a
-- killed caller's reservation open for good, with no ledger row for the call. The worker runs the
-- sweep for every organisation once a minute (functions/handlers/sweep_llm_reservations.py); it
-- settles only expired reservations, so a call still in flight (the gateway's timeouts are far
-- shorter than the 15-minute reservation) is never settled under its caller.
select salesflow.schedule_job('sweep_llm_reservations', 'sweep_llm_reservations', every => '1 minute');

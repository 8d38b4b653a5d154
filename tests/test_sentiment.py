"""Sentiment per message from the offline lexicons (VADER, German Polarity Lexicon), stored labelled with the
lexicon, a trend per lead through api.get_sentiment_trend, and the rolling summary's snapshot."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from salesflow.functions import sentiment
from salesflow.functions.handlers import score_sentiment, summarize_conversation
from tests.conftest import acting_as, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import CLAUDE, PRIMARY, SECONDARY, config_for

T0 = datetime(2025, 6, 2, 9, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as faults:
        yield faults


@pytest.mark.parametrize(("text", "language", "label"), [
    ("Thanks, the demo looked great!", None, "positive"),
    ("This is not what we asked for, very disappointing.", None, "negative"),
    ("We will get back to you next week.", None, "neutral"),
    ("Das Angebot ist super, vielen Dank!", None, "positive"),
    ("Das ist nicht gut, sehr enttäuschend.", None, "negative"),
    ("Der Service war schrecklich und langsam.", "de", "negative"),
    ("Wir melden uns nächste Woche.", None, "neutral"),
])
def test_the_lexicons_read_english_and_german(text: str, language: str | None, label: str) -> None:
    reading = sentiment.read(text, language)
    assert reading.label == label, reading
    assert reading.source == sentiment.sources()[reading.language]
    assert reading.source.startswith("lexicon:")


def test_negation_stays_in_its_clause() -> None:
    assert sentiment.read("Nicht schlecht, wirklich gut.", "de").label == "positive"
    assert sentiment.read("Das ist gut.", "de").score > sentiment.read("Das ist nicht gut.", "de").score


def _world(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    db.autocommit = True
    rep = uuid.uuid4()
    with acting_as(db, rep):
        org = db.execute("select id from api.create_organization('Stimmung GmbH')").fetchone()[0]
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ida')", (org,)).fetchone()[0]
    return rep, org, lead


def _run_sentiment_jobs(db: psycopg.Connection, url: str, org: uuid.UUID) -> int:
    jobs = db.execute("select id, payload from salesflow.jobs where kind = 'score_sentiment' and org_id = %s "
                      "and status = 'pending'", (org,)).fetchall()
    for job_id, payload in jobs:
        run_handler(db, url, score_sentiment.HANDLER, score_sentiment.Payload.model_validate(payload),
                    job_id=job_id, org_id=org)
        db.execute("update salesflow.jobs set status = 'completed', finished_at = now() where id = %s", (job_id,))
    return len(jobs)


def test_messages_are_read_stored_labelled_and_trend_per_week(db: psycopg.Connection, db_url: str) -> None:
    rep, org, lead = _world(db)
    texts = [("Thanks, the demo looked great!", 0), ("Wonderful, we love the offer.", 1),
             ("This is not what we asked for, very disappointing.", 7), ("Terrible support, we are angry.", 8),
             ("We will get back to you next week.", 9)]
    with acting_as(db, rep):
        for text, day in texts:
            db.execute("select api.create_message(%s, %s, 'email', 'inbound', %s, sent_at => %s)",
                       (org, lead, text, T0 + timedelta(days=day)))
        db.execute("select api.create_message(%s, %s, 'email', 'outbound', 'Great to hear!', sent_at => %s)",
                   (org, lead, T0))
    assert _run_sentiment_jobs(db, db_url, org) == 6  # one job per insert statement
    rows = db.execute("select body, sentiment_label, sentiment_source from salesflow.messages where lead_id = %s "
                      "order by sent_at, body", (lead,)).fetchall()
    labels = {b: lab for b, lab, _ in rows}
    assert labels["Thanks, the demo looked great!"] == "positive"
    assert labels["Terrible support, we are angry."] == "negative"
    assert labels["We will get back to you next week."] == "neutral"
    assert {s for _, _, s in rows} == {sentiment.sources()["en"]}
    with acting_as(db, rep):
        trend = db.execute("select period_start, messages, mean_sentiment > 0, negative_share, sources "
                           "from api.get_sentiment_trend(%s, %s)", (org, lead)).fetchall()
        with pytest.raises(psycopg.errors.InvalidParameterValue), db.transaction():
            db.execute("select * from api.get_sentiment_trend(%s, %s, 'fortnight')", (org, lead))
    week = T0.replace(hour=0)
    assert trend == [(week, 2, True, 0.0, [sentiment.sources()["en"]]),
                     (week + timedelta(days=7), 3, False, pytest.approx(2 / 3), [sentiment.sources()["en"]])]
    with acting_as(db, uuid.uuid4()):  # another tenant sees no trend
        assert db.execute("select count(*) from api.get_sentiment_trend(%s, %s)", (org, lead)).fetchone()[0] == 0


def test_no_consent_no_reading_and_the_summary_keeps_a_snapshot(db: psycopg.Connection, db_url: str,
                                                                 server: FaultServer) -> None:
    rep, org, lead = _world(db)
    with acting_as(db, rep):
        other = db.execute("select id from api.create_lead(%s, first_name => 'Ole')", (org,)).fetchone()[0]
        db.execute("select api.set_lead_consent(%s, %s, 'email', true, false)", (org, other))
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Ganz schrecklich.')", (org, other))
        for i, text in enumerate(["Das Angebot ist super, vielen Dank!", "Wir freuen uns sehr.",
                                  "Leider ist der Termin schlecht.", "Gut, dann so.", "Bis bald, wir freuen uns."]):
            db.execute("select api.create_message(%s, %s, 'email', 'inbound', %s, sent_at => %s)",
                       (org, lead, text, T0 + timedelta(hours=i)))
    _run_sentiment_jobs(db, db_url, org)
    assert db.execute("select sentiment from salesflow.messages where lead_id = %s", (other,)).fetchone() == (None,)
    server.reset()
    for m in (PRIMARY, SECONDARY, CLAUDE):
        server.script(m, ok("Ida is pleased with the offer."))
    run_handler(db, db_url, summarize_conversation.HANDLER, summarize_conversation.Payload(lead_id=lead),
                org_id=org, llm_config=config_for(server, [PRIMARY]))
    snapshot = db.execute("select sentiment from salesflow.conversation_summaries where lead_id = %s",
                          (lead,)).fetchone()[0]
    assert snapshot["messages"] == 5 and snapshot["negative"] == 1 and snapshot["mean"] > 0
    assert snapshot["sources"] == [sentiment.sources()["de"]]

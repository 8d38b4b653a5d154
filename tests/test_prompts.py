"""The prompt registry: immutable versions, moving labels, checked variables, sticky A/B assignment."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.conftest import authenticate_as
from tests.test_ai_accounting import Org, make_org, settle

TEMPLATE = "Write to {{lead_name}} about {{ topic }}. Deal size: {{amount}}."
VARIABLES = {"lead_name": "string", "topic": "string", "amount": "number"}


@pytest.fixture
def conn(db: psycopg.Connection) -> psycopg.Connection:
    db.autocommit = True
    db.execute("insert into salesflow.llm_models values "
               "('openai', 'gpt-test', '2024-01-01', 128000, 2.50, 10.00, default)")
    return db


@pytest.fixture
def org(conn: psycopg.Connection) -> Org:
    return make_org(conn, "Acme")


def new_version(conn: psycopg.Connection, org_id: uuid.UUID, template: str = TEMPLATE,
                variables: dict | None = None, name: str = "followup_email") -> int:
    return conn.execute(
        "select (salesflow.create_prompt_version(%s, %s, %s, %s, %s, %s)).version",
        (org_id, name, template, Jsonb(VARIABLES if variables is None else variables),
         Jsonb({"provider": "openai", "model": "gpt-test", "temperature": 0.2}),
         Jsonb({"type": "object"}))).fetchone()[0]


def label(conn: psycopg.Connection, org_id: uuid.UUID, name: str, version: int) -> None:
    conn.execute("select salesflow.set_prompt_label(%s, 'followup_email', %s, %s)", (org_id, name, version))


def render(conn: psycopg.Connection, org_id: uuid.UUID, variables: dict, which: str = "production") -> str:
    return conn.execute("select salesflow.render_prompt(%s, 'followup_email', %s, %s)",
                        (org_id, which, Jsonb(variables))).fetchone()[0]


GOOD = {"lead_name": "Ada", "topic": "robots", "amount": 1200}


def test_versions_are_numbered_and_immutable(conn: psycopg.Connection, org: Org) -> None:
    assert [new_version(conn, org.id), new_version(conn, org.id, "v2 for {{lead_name}}")] == [1, 2]
    stored = conn.execute("select template, variables, model_config ->> 'model', output_schema "
                          "from salesflow.prompt_versions where org_id = %s and version = 1", (org.id,)).fetchone()
    assert stored == (TEMPLATE, VARIABLES, "gpt-test", {"type": "object"})
    for statement in ("update salesflow.prompt_versions set template = 'changed'",
                      "update salesflow.prompt_versions set model_config = '{}' where version = 2",
                      "delete from salesflow.prompt_versions where version = 1"):
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="immutable"):
            conn.execute(statement)
    assert conn.execute("select count(*), min(template) from salesflow.prompt_versions").fetchone() == (2, TEMPLATE)
    # the prompt (or its organisation) goes with its versions: erasure stays possible
    conn.execute("delete from salesflow.prompts where org_id = %s", (org.id,))
    assert conn.execute("select count(*) from salesflow.prompt_versions").fetchone()[0] == 0


def test_labels_move_and_render_follows_them(conn: psycopg.Connection, org: Org) -> None:
    new_version(conn, org.id)
    new_version(conn, org.id, "Hi {{lead_name}}, {{topic}} ({{amount}})")
    label(conn, org.id, "production", 1)
    label(conn, org.id, "candidate", 2)
    assert render(conn, org.id, GOOD) == "Write to Ada about robots. Deal size: 1200."
    assert render(conn, org.id, GOOD, "candidate") == "Hi Ada, robots (1200)"
    # version 2 never ran its test suite: production moves to it only with a reason, which is kept
    with pytest.raises(psycopg.Error, match="version 2 of followup_email has no finished test run") as refused:
        label(conn, org.id, "production", 2)
    assert refused.value.sqlstate == "PT409"
    conn.execute("select salesflow.move_prompt_label(%s, 'followup_email', 'production', 2, null, 'hotfix')",
                 (org.id,))
    assert conn.execute("select from_version, to_version, suite_status, override_reason "
                        "from salesflow.prompt_label_moves where label = 'production' order by id").fetchall() == [
        (None, 1, "none", None), (1, 2, "none", "hotfix")]
    assert render(conn, org.id, GOOD) == "Hi Ada, robots (1200)"
    assert conn.execute("select label, version from salesflow.prompt_labels order by label").fetchall() == [
        ("candidate", 2), ("production", 2)]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        label(conn, org.id, "production", 3)


def test_render_refuses_missing_undeclared_and_mistyped_variables(conn: psycopg.Connection, org: Org) -> None:
    label(conn, org.id, "production", new_version(conn, org.id))
    cases = {
        "missing variables for followup_email: amount": {"lead_name": "Ada", "topic": "robots"},
        "undeclared variables for followup_email v1: tone": {**GOOD, "tone": "warm"},
        r"wrong type for followup_email: amount \(number\)": {**GOOD, "amount": "1200"},
    }
    for message, variables in cases.items():
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
            render(conn, org.id, variables)
    # values are inserted once: a value that looks like a placeholder stays as it is
    assert render(conn, org.id, {**GOOD, "lead_name": "{{topic}} \\1 &"}) == (
        "Write to {{topic}} \\1 & about robots. Deal size: 1200.")
    with pytest.raises(psycopg.Error) as unknown:
        render(conn, org.id, GOOD, "candidate")
    assert unknown.value.sqlstate == "PT404"


def test_a_version_must_declare_every_placeholder(conn: psycopg.Connection, org: Org) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="undeclared variables: tone"):
        new_version(conn, org.id, "Hello {{lead_name}} in a {{tone}} tone")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="bad variable declarations: x"):
        new_version(conn, org.id, "Hello", {"x": "text"})
    assert conn.execute("select count(*) from salesflow.prompt_versions").fetchone()[0] == 0


def test_assignment_is_sticky_and_balanced(conn: psycopg.Connection, org: Org) -> None:
    label(conn, org.id, "production", new_version(conn, org.id))
    label(conn, org.id, "candidate", new_version(conn, org.id, "v2 {{lead_name}}"))
    assign = "select * from salesflow.assign_prompt_version(%s, 'followup_email', %s)"
    assert conn.execute(assign, (org.id, "lead-1")).fetchone() == (1, "production", None)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="bad experiment arms: nope"):
        conn.execute("select salesflow.start_prompt_experiment(%s, 'followup_email', %s)",
                     (org.id, Jsonb({"production": 50, "nope": 50})))
    experiment = conn.execute("select (salesflow.start_prompt_experiment(%s, 'followup_email', %s)).id",
                              (org.id, Jsonb({"production": 50, "candidate": 50}))).fetchone()[0]
    subjects = [str(uuid.UUID(int=i)) for i in range(2000)]
    first = dict(conn.execute(
        "select s, (salesflow.assign_prompt_version(%s, 'followup_email', s)).label from unnest(%s::text[]) as s",
        (org.id, subjects)).fetchall())
    again = dict(conn.execute(
        "select s, (salesflow.assign_prompt_version(%s, 'followup_email', s)).label from unnest(%s::text[]) as s",
        (org.id, list(reversed(subjects)))).fetchall())
    assert first == again
    share = sum(1 for v in first.values() if v == "candidate") / len(first)
    assert 0.45 <= share <= 0.55, share
    version, arm, exp = conn.execute(assign, (org.id, subjects[0])).fetchone()
    assert exp == experiment and version == {"production": 1, "candidate": 2}[arm]
    # a 90/10 split is honoured too
    conn.execute("select salesflow.start_prompt_experiment(%s, 'followup_email', %s)",
                 (org.id, Jsonb({"production": 90, "candidate": 10})))
    arms = [conn.execute(assign, (org.id, s)).fetchone()[1] for s in subjects[:1000]]
    assert 0.05 <= arms.count("candidate") / 1000 <= 0.15


def test_the_comparison_view_sets_versions_side_by_side(conn: psycopg.Connection, org: Org) -> None:
    assert [new_version(conn, org.id), new_version(conn, org.id)] == [1, 2]
    requests = {}
    for version, status, tokens in ((1, "ok", 1000), (1, "error", 1000), (2, "ok", 2000), (2, "ok", 2000)):
        requests.setdefault(version, []).append(settle(
            conn, None, org.id, prompt_name="followup_email", prompt_version=version, status=status,
            input_tokens=tokens, output_tokens=0, experiment_label={1: "production", 2: "candidate"}[version]))
    feedback = "insert into salesflow.llm_feedback (org_id, request_id, rating, outcome) values (%s, %s, %s, %s)"
    conn.execute(feedback, (org.id, requests[1][0], -1, "rejected"))
    conn.execute(feedback, (org.id, requests[2][0], 1, "accepted"))
    conn.execute(feedback, (org.id, requests[2][1], 1, "edited"))
    rows = conn.execute(
        "select prompt_version, experiment_label, requests, total_cost, error_rate, thumbs_up_share, accepted_share,"
        " edited_share, rejected_share from analytics.prompt_version_comparison where org_id = %s"
        " order by prompt_version", (org.id,)).fetchall()
    assert rows == [
        (1, "production", 2, Decimal("0.005000"), Decimal("0.5000"), Decimal("0.0000"), Decimal("0.0000"),
         Decimal("0.0000"), Decimal("1.0000")),
        (2, "candidate", 2, Decimal("0.010000"), Decimal("0.0000"), Decimal("1.0000"), Decimal("0.5000"),
         Decimal("0.5000"), Decimal("0.0000")),
    ]


def test_clients_read_prompts_of_their_org_only(conn: psycopg.Connection, org: Org) -> None:
    other = make_org(conn, "Borg")
    label(conn, org.id, "production", new_version(conn, org.id))
    new_version(conn, org.id, "v2 {{lead_name}}")
    with authenticate_as(conn, org.rep):
        listed = conn.execute("select name, latest_version, labels from api.list_prompts(%s)", (org.id,)).fetchall()
        assert listed == [("followup_email", 2, {"production": 1})]
        got = conn.execute("select version, template from api.get_prompt_version(%s, 'followup_email')",
                           (org.id,)).fetchone()
        assert got == (1, TEMPLATE)
        assert conn.execute("select version from api.get_prompt_version(%s, 'followup_email', version => 2)",
                            (org.id,)).fetchone() == (2,)
    for user in (other.owner, other.rep):
        with authenticate_as(conn, user):
            assert conn.execute("select count(*) from api.list_prompts(%s)", (org.id,)).fetchone() == (0,)
            counts = conn.execute(
                "select (select count(*) from salesflow.prompts), (select count(*) from salesflow.prompt_versions),"
                " (select count(*) from salesflow.prompt_labels), (select count(*) from salesflow.prompt_experiments)"
            ).fetchone()
            assert counts == (0, 0, 0, 0)
            with pytest.raises(psycopg.Error) as hidden:
                conn.execute("select api.get_prompt_version(%s, 'followup_email')", (org.id,))
            assert hidden.value.sqlstate == "PT404"
        with authenticate_as(conn, user):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("update salesflow.prompt_labels set version = 1")

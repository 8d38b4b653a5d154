"""The SQL pipeline: fresh apply, re-apply, refusal of edited migrations, the catalog, supabase/."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from salesflow import supabase_export
from salesflow.db import migrate as migrate_mod
from salesflow.db.migrate import Migration, MigrationError, migrate, status
from tests.conftest import ROOT, Server

SNAPSHOT = Path(__file__).with_name("expected_catalog.json")

CATALOG_QUERY = """
select jsonb_build_object(
    'tables', (
        select jsonb_object_agg(c.relname, jsonb_build_object(
            'rls', c.relrowsecurity,
            'columns', (
                select jsonb_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                 || case when a.attnotnull then ' not null' else '' end order by a.attnum)
                from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            ),
            'indexes', (
                select coalesce(jsonb_agg(pg_get_indexdef(i.indexrelid) order by pg_get_indexdef(i.indexrelid)), '[]')
                from pg_index i where i.indrelid = c.oid
            ),
            'constraints', (
                select coalesce(jsonb_agg(pg_get_constraintdef(k.oid) order by pg_get_constraintdef(k.oid)), '[]')
                from pg_constraint k where k.conrelid = c.oid
            ),
            'policies', (
                select coalesce(jsonb_object_agg(p.polname, jsonb_build_object(
                    'command', p.polcmd, 'roles', p.polroles::regrole[]::text[],
                    'using', pg_get_expr(p.polqual, p.polrelid), 'check', pg_get_expr(p.polwithcheck, p.polrelid)
                )), '{}')
                from pg_policy p where p.polrelid = c.oid
            )
        ))
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'salesflow' and c.relkind = 'r'
    ),
    'functions', (
        select jsonb_object_agg(p.oid::regprocedure::text, jsonb_build_object(
            'returns', pg_get_function_result(p.oid),
            'volatility', p.provolatile,
            'security_definer', p.prosecdef,
            'config', coalesce(p.proconfig, '{}'),
            'acl', array(
                select regexp_replace(a, '/.*$', '') from unnest(coalesce(p.proacl::text[], '{}')) a order by 1
            ),
            'comment', obj_description(p.oid, 'pg_proc') is not null
        ))
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in ('api', 'salesflow')
    ),
    'triggers', (
        select coalesce(jsonb_agg(tgname || ' on ' || tgrelid::regclass::text
                                  order by tgname, tgrelid::regclass::text), '[]')
        from pg_trigger where not tgisinternal
    )
)
"""


def catalog(conn: psycopg.Connection) -> dict:
    return conn.execute(CATALOG_QUERY).fetchone()[0]


@pytest.fixture
def empty_db(pg_server: Server) -> Iterator[str]:
    name = f"salesflow_empty_{uuid.uuid4().hex[:10]}"
    with DatabaseJanitor(user=pg_server.user, host=pg_server.host, port=pg_server.port, dbname=name,
                         password=pg_server.password):
        yield pg_server.url(name)


def test_fresh_apply_then_reapply_changes_nothing(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert not status(conn).current
        first = migrate(conn)
        assert first.applied == [m.name for m in migrate_mod.load_migrations()]
        assert first.objects_applied
        before = catalog(conn)
        recorded = conn.execute("select count(*) from salesflow.schema_migrations").fetchone()[0]

        second = migrate(conn)
        assert second.applied == [] and not second.objects_applied
        assert second.summary() == "database is up to date"
        assert catalog(conn) == before
        assert conn.execute("select count(*) from salesflow.schema_migrations").fetchone()[0] == recorded
        assert status(conn).current


def test_forced_reapply_of_objects_keeps_the_catalog(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        before = catalog(conn)
        assert migrate(conn, reapply_objects=True).objects_applied
        assert catalog(conn) == before


def test_edited_applied_migration_is_refused_and_nothing_changes(empty_db: str, monkeypatch) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        before = catalog(conn)
        original = migrate_mod.load_migrations()
        edited = [Migration(name=m.name, text=m.text + "\ncreate table salesflow.sneaky (id int);\n", version=m.version)
                  for m in original]
        monkeypatch.setattr(migrate_mod, "load_migrations", lambda root=None: edited)
        with pytest.raises(MigrationError, match="was edited after it was applied"):
            migrate(conn)
        assert status(conn).problems and not status(conn).current
        assert conn.execute("select to_regclass('salesflow.sneaky')").fetchone() == (None,)
        assert catalog(conn) == before


def test_unknown_applied_migration_is_refused(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        conn.execute("insert into salesflow.schema_migrations values (9999, '9999_from_the_future.sql', 'x')")
        with pytest.raises(MigrationError, match="does not know"):
            migrate(conn)


def test_failing_new_migration_rolls_back_whole_run(empty_db: str, monkeypatch) -> None:
    real = migrate_mod.load_migrations()
    broken = [*real, Migration(name="9000_broken.sql", text="create table salesflow.half (id int);\nselect 1/0;",
                               version=9000)]
    monkeypatch.setattr(migrate_mod, "load_migrations", lambda root=None: broken)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        with pytest.raises(MigrationError, match="9000_broken.sql failed: division by zero"):
            migrate(conn)
        # one transaction: not even the good migrations before it were recorded
        assert conn.execute("select to_regclass('salesflow.leads'), to_regclass('salesflow.half')").fetchone() == (
            None, None)


def test_an_upgrade_relabels_coaching_in_the_run_that_adds_its_action_type(empty_db: str, monkeypatch) -> None:
    """0038 on a database whose recommendation_action type is already committed: the object files that
    name 'coach' are applied in the same transaction (an ALTER TYPE ... ADD VALUE could not be used there),
    and coaching rules and their recommendations, and nothing else, become 'coach'."""
    real = migrate_mod.load_migrations()
    monkeypatch.setattr(migrate_mod, "load_migrations", lambda root=None: [m for m in real if m.version < 38])
    monkeypatch.setattr(migrate_mod, "load_objects", lambda root=None: [])
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        org = conn.execute("insert into salesflow.organizations (name, slug) values ('Before', 'before-org') "
                           "returning id").fetchone()[0]
        lead = conn.execute("insert into salesflow.leads (org_id, first_name) values (%s, 'Ada') returning id",
                            (org,)).fetchone()[0]
        rule = conn.execute("insert into salesflow.recommendation_rules (org_id, rule_key, version, action_type, "
                            "base_priority, half_life, ttl, description) values (null, 'coaching_monologue', 1, "
                            "'call', 40, '3 days', '10 days', 'old') returning id").fetchone()[0]
        for key, source, rule_id in (("coaching_monologue:a", "rule", rule), ("manual:a", "manual", None)):
            conn.execute("insert into salesflow.ai_recommendations (org_id, lead_id, action_type, reason_key, reason, "
                         "base_priority, half_life, expires_at, source, rule_id, rule_key, rule_version) values "
                         "(%s, %s, 'call', %s, 'r', 40, '3 days', now() + interval '3 days', %s, %s, %s, %s)",
                         (org, lead, key, source, rule_id, key.split(":")[0] if rule_id else None,
                          1 if rule_id else None))
        monkeypatch.undo()
        assert migrate(conn).applied == ["0038_coaching_action.sql"]
        labels = dict(conn.execute("select reason_key, action_type::text from salesflow.ai_recommendations").fetchall())
        assert labels == {"coaching_monologue:a": "coach", "manual:a": "call"}
        rules = dict(conn.execute("select rule_key, action_type::text from salesflow.recommendation_rules "
                                  "where org_id is null and rule_key in ('coaching_monologue', 'coaching_questions', "
                                  "'competitor_mentioned')").fetchall())
        assert rules == {"coaching_monologue": "coach", "coaching_questions": "coach", "competitor_mentioned": "call"}
        assert conn.execute("select to_regtype('salesflow.recommendation_action_0012')").fetchone() == (None,)


def test_catalog_matches_expected_snapshot(empty_db: str) -> None:
    """The schema built from migrations is exactly the reviewed one (regenerate: SALESFLOW_UPDATE_SNAPSHOT=1)."""
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        actual = catalog(conn)
    if os.environ.get("SALESFLOW_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert actual == expected, "schema differs from tests/expected_catalog.json; review, then regenerate it"


def test_catalog_invariants(db: psycopg.Connection) -> None:
    """DESIGN.md decisions 2-3, checked on the real catalog rather than by reading the files."""
    cat = catalog(db)
    # organizations and org_members become Citus reference tables (small, replicated to every node):
    # RLS looks members up by user, so their keys need not lead with org_id
    # the queue's tables stay on the coordinator: a claim scans every organisation's jobs in priority
    # order, and system jobs (purges, refreshes) have no org, so org_id is nullable and leads no index
    # (embedding_queue likewise: the embed job claims across organisations; embedding_models has no org)
    # llm_models is the global model catalogue (providers' prices, no org): a reference table too
    # recommendation_rules (shipped defaults with org_id null, plus overrides) and calling_code_zones
    # are small reference tables as well, as is disg_guidance (the shipped DISG guidance texts)
    not_distributed = {"organizations", "org_members", "schema_migrations", "schema_objects", "jobs", "job_schedules",
                       "embedding_queue", "embedding_models", "llm_models", "recommendation_rules",
                       "calling_code_zones", "disg_guidance",
                       # per installation, not per organisation: the ledgers' retention log, the install's
                       # secrets, the personal-data catalogue, webhooks refused before any org was known
                       "audit_retention_runs", "install_secrets", "personal_data_catalog", "webhook_rejections"}
    tenant = {name: t for name, t in cat["tables"].items() if name not in not_distributed}
    for name, table in cat["tables"].items():
        assert table["rls"], f"RLS is off on salesflow.{name}"
        for policy_name, policy in table["policies"].items():
            for clause in (policy["using"], policy["check"]):
                assert clause is None or clause.strip("() ") != "true", f"{name}.{policy_name} lets everyone in"
            assert policy["roles"] == ["authenticated"], f"{name}.{policy_name} applies to {policy['roles']}"
    for name, table in tenant.items():
        assert table["columns"][0].startswith("org_id "), f"{name}: org_id must lead"
        for index in table["indexes"]:
            # an HNSW index holds one column; under Citus it is built per shard, so it needs no org_id
            # embeddings_model_idx covers the foreign key to embedding_models (a reference table):
            # a plain index, built per shard too, that must lead with the key it covers
            # ai_recommendations_rule_fk_idx likewise covers the key to the shipped rules (reference data);
            # channel_configs_route_key routes a webhook to its organisation before any org is known
            exempt = (" embeddings_model_idx ", " ai_recommendations_rule_fk_idx ", " channel_configs_route_key ")
            if " USING hnsw " not in index and not any(e in index for e in exempt):
                assert "(org_id" in index, f"{name}: index does not lead with org_id: {index}"
    # the policy predicates of 12_policy_helpers.sql and the conversion rule: a SET clause would stop
    # the planner inlining them, so they qualify every type and operator instead (and are immutable,
    # invoker, language sql)
    inlined = {"salesflow.may_write_owned(uuid,uuid,text[])",
               "salesflow.may_manage_member(uuid,salesflow.member_role,text[])",
               "salesflow.conversion_status(salesflow.lifecycle_stage,boolean,boolean)"}
    assert inlined <= set(cat["functions"])
    for signature, fn in cat["functions"].items():
        if signature in inlined:
            assert fn["config"] in (None, []), f"{signature} must stay inlinable: no SET clause"
            assert fn["volatility"] == "i" and not fn["security_definer"], f"{signature} must stay inlinable"
            continue
        assert any(c.startswith("search_path=") for c in fn["config"]), f"{signature} does not pin search_path"
        if signature.startswith("api."):
            assert fn["comment"], f"{signature} has no COMMENT ON"
            grantees = {entry.split("=")[0] for entry in fn["acl"]}
            assert "authenticated" in grantees, f"{signature} is not granted to authenticated"
            assert "" not in grantees and "anon" not in grantees, f"{signature} is executable by PUBLIC or anon"


def test_supabase_folder_is_generated_from_sql() -> None:
    stale = supabase_export.stale_files(ROOT / "supabase")
    assert stale == [], f"supabase/ is stale: {stale}; run python scripts/gen_supabase.py"


def test_stale_supabase_folder_is_detected(tmp_path: Path) -> None:
    supabase_export.write(tmp_path)
    assert supabase_export.stale_files(tmp_path) == []
    generated = sorted((tmp_path / "migrations").glob("*_tenant_model.sql"))[0]
    generated.write_text(generated.read_text() + "\n-- hand edit\n")
    (tmp_path / "migrations" / "20990101000000_leftover.sql").write_text("select 1;")
    stale = " ".join(supabase_export.stale_files(tmp_path))
    assert f"changed after it was emitted as migrations/{generated.name}" in stale
    assert "migrations/20990101000000_leftover.sql was not generated" in stale
    with pytest.raises(supabase_export.ExportError):
        supabase_export.write(tmp_path)


def test_generated_supabase_migrations_build_the_same_schema(empty_db: str, db: psycopg.Connection) -> None:
    """Applying supabase/migrations in version order (as the Supabase CLI does) gives the runner's schema."""
    files = supabase_export.render(ROOT / "supabase")
    with psycopg.connect(empty_db, autocommit=True) as conn:
        for rel in sorted(p for p in files if p.startswith("migrations/")):
            conn.execute(files[rel].encode())
        conn.execute(files["seed.sql"].encode())
        built = catalog(conn)
        assert conn.execute("select count(*) from salesflow.leads").fetchone()[0] == supabase_export.SEED_LEADS
    assert built["tables"] == catalog(db)["tables"]

"""The demo organisation for `salesflow up --demo` and `salesflow demo`, and what to print afterwards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from salesflow.config import Settings
from salesflow.tokens import TEN_YEARS, issue_token

DEMO_ORG_NAME = "Nordwind Demo GmbH"
USER_TOKEN_TTL = 30 * 24 * 3600


@dataclass(frozen=True)
class DemoOrg:
    org_id: uuid.UUID
    org_name: str
    owner_id: uuid.UUID
    owner_email: str | None
    counts: dict[str, int]


def load_or_find_demo(database_url: str, *, leads: int, seed: int) -> tuple[DemoOrg, bool]:
    """Load the demo organisation unless it is there already; returns it and whether it was created now."""
    from salesflow.demo import load_demo

    with psycopg.connect(database_url) as conn:
        existing = conn.execute(
            """select o.id, o.name, m.user_id, m.email from salesflow.organizations o
               join salesflow.org_members m on m.org_id = o.id and m.role = 'owner'
               where o.name = %s order by m.created_at limit 1""",
            (DEMO_ORG_NAME,),
        ).fetchone()
        if existing:
            counts = dict(conn.execute(
                """select 'leads', count(*) from salesflow.leads where org_id = %(o)s
                   union all select 'deals', count(*) from salesflow.deals where org_id = %(o)s
                   union all select 'activities', count(*) from salesflow.activities where org_id = %(o)s
                   union all select 'messages', count(*) from salesflow.messages where org_id = %(o)s""",
                {"o": existing[0]},
            ).fetchall())
            return DemoOrg(existing[0], existing[1], existing[2], existing[3], counts), False
        result = load_demo(conn, leads=leads, seed=seed, org_name=DEMO_ORG_NAME)
        conn.commit()
    owner = next(u for u in result.users if u.role == "owner")
    return DemoOrg(result.org_id, result.org_name, owner.user_id, owner.email, dict(result.counts)), True


def demo_banner(settings: Settings, database_url: str, *, leads: int, seed: int) -> str:
    """Load (or find) the demo and say what a person can do next, with commands that work as printed."""
    demo, created = load_or_find_demo(database_url, leads=leads, seed=seed)
    secret = settings.jwt_secret()
    anon_key = issue_token(secret, "anon", ttl_seconds=TEN_YEARS)
    user_token = issue_token(secret, "authenticated", user_id=demo.owner_id, email=demo.owner_email,
                             ttl_seconds=USER_TOKEN_TTL)
    counts = ", ".join(f"{n:,} {table}" for table, n in demo.counts.items())
    api = settings.api_url
    return f"""
SalesFlow is starting.

  API        {api}      health: {api}/health   docs: {api}/docs   RPCs: POST {api}/rest/v1/rpc/<function>
  Home       {settings.home}   (the embedded database, the JWT secret, logs)
  Database   {database_url}
  Demo org   {demo.org_name}  id {demo.org_id}  ({'loaded now' if created else 'already loaded'}: {counts})

Analysts (psql; the salesflow schema holds the tables):
  .venv/bin/salesflow db psql -c "select lifecycle_stage, count(*) from salesflow.leads group by 1 order by 2 desc"

Tokens (HS256, signed with SALESFLOW_JWT_SECRET or the secret in {settings.home / 'jwt_secret'}):
  anon key     {anon_key}
  user token   {user_token}
               (the demo owner {demo.owner_email or demo.owner_id}, valid 30 days; new ones: salesflow token --help)

Python (.venv/bin/python; scripts/up installs the supabase client):
  from supabase import ClientOptions, create_client
  client = create_client("{api}", "{anon_key}", options=ClientOptions(schema="api"))
  client.postgrest.auth("{user_token}")
  leads = client.rpc("list_leads", {{"org_id": "{demo.org_id}", "stage": "sql", "page_size": 5}}).execute()
  print([(lead["first_name"], lead["last_name"], lead["email"]) for lead in leads.data])

Ctrl-C stops the API (and the embedded database, if this command started it).
The worker's log: {settings.home / 'worker.log'}
"""

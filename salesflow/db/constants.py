"""Facts defined in SQL that Python needs before it can ask the database. Generated: do not edit.

Regenerate with `python -m salesflow.db.catalog_facts DATABASE_URL` (salesflow/db/catalog_facts.py);
tests/test_constants.py compares this file with a freshly migrated catalog.
"""

from __future__ import annotations

from typing import Final

# CHECK (kind ~ ...) on salesflow.jobs and salesflow.schedules (sql/migrations/0002_queue.sql)
JOB_KIND_PATTERN: Final = '^[a-z][a-z0-9_]{0,62}$'
# CHECK (queue ~ ...) on salesflow.jobs and salesflow.schedules
QUEUE_NAME_PATTERN: Final = '^[a-z][a-z0-9_]{0,39}$'
# enum salesflow.channel, in its sort order
CHANNELS: Final = ('email', 'whatsapp', 'sms', 'linkedin', 'chat', 'phone')
# enum salesflow.job_status, in its sort order
JOB_STATUSES: Final = ('pending', 'running', 'completed', 'dead', 'cancelled')

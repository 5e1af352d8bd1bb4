"""Imports every table module so that SQLModel.metadata is complete.

Alembic's env and the schema test import this. A new table module adds one line.
"""

from sqlmodel import SQLModel

import digest.content.models  # Tool, Comparison, Entry, Review, Vote
import digest.delivery.kept  # EditionSummary
import digest.delivery.ledger  # Delivery
import digest.editions.models  # Edition, EditionItem, EditionVariant
import digest.editors.models  # Editor, AuditEntry
import digest.events.models  # noqa: F401  Event
import schedules  # noqa: F401  Lease, JobRun (the package registers its tables)
import subscribers  # noqa: F401  Subscriber, Suppression, ConsentEvent (likewise)

metadata = SQLModel.metadata

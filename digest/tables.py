"""Imports every table module so that SQLModel.metadata is complete.

Alembic's env and the schema test import this. A new table module adds one line.
"""

from sqlmodel import SQLModel

import digest.content.models  # Tool, Comparison, Entry, Review, Vote
import digest.delivery.ledger  # Delivery
import digest.editions.models  # Edition, EditionItem, EditionVariant
import digest.events.models  # noqa: F401  Event
import schedules.models  # noqa: F401  Lease, JobRun
import subscribers.models  # noqa: F401  Subscriber, Suppression, ConsentEvent

metadata = SQLModel.metadata

"""Imports every table module so that SQLModel.metadata is complete.

Alembic's env and the schema test import this. A new table module adds one line.
"""

from sqlmodel import SQLModel

import digest.content  # noqa: F401  Tool, Comparison, Entry, Review

metadata = SQLModel.metadata

"""The library's one exception: a schedule that cannot be understood or run as asked.

It does not subclass anything from `digest` (the library imports nothing from
it); callers translate it at their boundary.
"""

from __future__ import annotations


class ScheduleError(Exception):
    """A schedule value is malformed, or a job cannot be registered or run as asked."""

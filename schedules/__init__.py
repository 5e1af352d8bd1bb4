"""schedules: a self-contained library for timed jobs.

APScheduler wiring, a job registry and database leases. It knows nothing about
newsletters and imports neither `digest` nor `subscribers`.
"""

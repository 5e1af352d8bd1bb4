"""Delivery: the per-reader ledger and the send loop."""

"""Stores: Postgres queries, Redis scripts and the Kubernetes adapter; nothing here knows HTTP."""

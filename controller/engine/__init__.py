"""Orchestration: one reconcile pass, the loop, status and metrics."""

"""Prometheus metrics (prefix ``modelsync_``), fed from pass results.

The names are a contract with the controller chart's PrometheusRule and Grafana dashboard
(docs/contracts.md section 7). Each controller process owns one ``Metrics`` with its own
registry, so tests do not share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.exposition import generate_latest

from controller.engine.sync import PassResult

_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconcile_duration = Histogram(
            "modelsync_reconcile_duration_seconds",
            "Duration of one reconcile pass.",
            ["cluster"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.reconciles = PromCounter(
            "modelsync_reconciles",
            "Reconcile passes by result (success, error, skipped).",
            ["cluster", "result"],
            registry=r,
        )
        self.fetch_duration = Histogram(
            "modelsync_git_fetch_duration_seconds",
            "Duration of a Git fetch.",
            ["cluster"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "modelsync_last_successful_sync_timestamp_seconds",
            "Unix time of the last pass that completed without errors.",
            ["cluster"],
            registry=r,
        )
        self.last_commit = Gauge(
            "modelsync_last_synced_commit_info",
            "The commit the last completed pass applied.",
            ["cluster", "commit"],
            registry=r,
        )
        self.workspaces = Gauge(
            "modelsync_workspaces",
            "1 for each Workspace at its current state.",
            ["cluster", "workspace_namespace", "workspace", "kind", "state"],
            registry=r,
        )
        self.leader = Gauge(
            "modelsync_leader", "1 while this replica holds the leader lease.", registry=r
        )
        self.helm_actions = PromCounter(
            "modelsync_helm_actions",
            "Release actions by kind and result.",
            ["cluster", "action", "result"],
            registry=r,
        )
        self.drift = PromCounter(
            "modelsync_drift_detected",
            "Releases found drifted from their manifest.",
            ["cluster"],
            registry=r,
        )
        self._commit = ""

    def observe(self, result: PassResult, *, now: float) -> None:
        cluster = result.cluster
        self.reconcile_duration.labels(cluster).observe(result.seconds)
        if result.fetch_seconds is not None:
            self.fetch_duration.labels(cluster).observe(result.fetch_seconds)
        outcome = (
            "error"
            if result.error
            else "skipped"
            if result.skipped
            else ("success" if result.ok else "error")
        )
        self.reconciles.labels(cluster, outcome).inc()
        for action in result.results:
            self.helm_actions.labels(
                cluster, str(action.step.action), "success" if action.ok else "failure"
            ).inc()
        if result.drifted:
            self.drift.labels(cluster).inc(len(result.drifted))
        if not result.error:
            if result.ok:
                self.last_success.labels(cluster).set(now)
            if result.commit and result.commit != self._commit:
                if self._commit:
                    self.last_commit.remove(cluster, self._commit)
                self.last_commit.labels(cluster, result.commit).set(1)
                self._commit = result.commit
        if result.statuses:
            self.workspaces.clear()
            for s in result.statuses:
                state = workspace_state(s.ready, s.reason, s.suspended, s.stalled)
                kind = s.kind or "unknown"
                self.workspaces.labels(cluster, s.namespace, s.name, kind, state).set(1)

    def standby(self) -> None:
        """A replica without the lease exports no Workspace series (the leader does)."""
        self.leader.set(0)
        self.workspaces.clear()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def workspace_state(ready: str, reason: str, suspended: bool, stalled: bool = False) -> str:
    """The ``state`` label (docs/contracts.md section 7)."""
    if suspended:
        return "suspended"
    if reason == "ValidationFailed":
        return "invalid"
    if ready == "True":
        return "ready"
    failed = stalled or reason.endswith("Failed") or reason == "ReleaseConflict"
    return "failed" if failed else "progressing"

"""Workload state from a Deployment's or a Job's status, with KAITO's conditions."""

from __future__ import annotations

from typing import Any

import pytest

from controller.core.status import WorkloadState
from controller.core.workloads import workload_state


def deployment(generation: int = 1, **status: Any) -> dict[str, Any]:
    """A Deployment of two replicas with this status."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "phi", "generation": generation},
        "spec": {"replicas": 2},
        "status": status,
    }


def job(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "tune-1a2b3c4d"},
        "spec": {"completions": 1},
        "status": status,
    }


def conditions(resource: bool, inference: bool) -> dict[str, str]:
    return {
        "ResourceReady": str(resource),
        "InferenceReady": str(inference),
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            deployment(),
            WorkloadState(
                "Deployment",
                False,
                "0/2 replicas available; generation 1 not yet observed",
                conditions(False, False),
            ),
        ),
        (
            deployment(observedGeneration=1, replicas=2, availableReplicas=1),
            WorkloadState("Deployment", False, "1/2 replicas available", conditions(True, False)),
        ),
        (
            deployment(observedGeneration=1, replicas=2, availableReplicas=2),
            WorkloadState("Deployment", True, "2/2 replicas available", conditions(True, True)),
        ),
        (
            deployment(generation=2, observedGeneration=1, replicas=2, availableReplicas=2),
            WorkloadState(
                "Deployment",
                False,
                "2/2 replicas available; generation 2 not yet observed",
                conditions(True, False),
            ),
        ),
        (
            deployment(
                replicas=0,
                conditions=[
                    {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "reason": "FailedCreate",
                        "message": "exceeded quota: gpu",
                    }
                ],
            ),
            WorkloadState(
                "Deployment",
                False,
                "0/2 replicas available; FailedCreate: exceeded quota: gpu",
                conditions(False, False),
            ),
        ),
        (
            deployment(
                observedGeneration=1,
                replicas=2,
                availableReplicas=1,
                conditions=[
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": "ReplicaSet phi-1 has timed out progressing.",
                    }
                ],
            ),
            WorkloadState(
                "Deployment",
                False,
                "1/2 replicas available; rollout stalled: ReplicaSet phi-1 has timed out "
                "progressing.",
                conditions(True, False),
            ),
        ),
    ],
)
def test_deployment_readiness(obj: dict[str, Any], expected: WorkloadState) -> None:
    assert workload_state(obj) == expected


@pytest.mark.parametrize(
    ("status", "ready", "message", "started", "succeeded"),
    [
        ({}, False, "tuning Job not started yet", "False", "False"),
        (
            {"startTime": "2026-01-01T00:00:00Z", "active": 1},
            False,
            "tuning Job running (1 active pods)",
            "True",
            "False",
        ),
        (
            {
                "startTime": "t",
                "succeeded": 1,
                "conditions": [{"type": "Complete", "status": "True"}],
            },
            True,
            "tuning Job succeeded",
            "True",
            "True",
        ),
        (
            {
                "startTime": "t",
                "failed": 3,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    }
                ],
            },
            False,
            "tuning Job failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
            "True",
            "False",
        ),
    ],
)
def test_job_progress(
    status: dict[str, Any], ready: bool, message: str, started: str, succeeded: str
) -> None:
    assert workload_state(job(**status)) == WorkloadState(
        "Job", ready, message, {"JobStarted": started, "WorkspaceSucceeded": succeeded}
    )


def test_other_kinds_have_no_workload_state() -> None:
    assert workload_state({"kind": "Service"}) is None


def group(**status: Any) -> dict[str, Any]:
    """A LeaderWorkerSet of one group with ``status`` as the LWS controller wrote it."""
    return {"kind": "LeaderWorkerSet", "spec": {"replicas": 1}, "status": status}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            group(),
            WorkloadState(
                "LeaderWorkerSet",
                False,
                "0/1 multi-node groups ready; no status from the LeaderWorkerSet controller "
                "(is it installed?)",
                {"ResourceReady": "False", "InferenceReady": "False"},
            ),
        ),
        (
            group(replicas=1, readyReplicas=0),
            WorkloadState(
                "LeaderWorkerSet",
                False,
                "0/1 multi-node groups ready",
                {"ResourceReady": "True", "InferenceReady": "False"},
            ),
        ),
        (
            group(replicas=1, readyReplicas=1),
            WorkloadState(
                "LeaderWorkerSet",
                True,
                "1/1 multi-node groups ready",
                {"ResourceReady": "True", "InferenceReady": "True"},
            ),
        ),
    ],
)
def test_multi_node_group_readiness(obj: dict[str, Any], expected: WorkloadState) -> None:
    assert workload_state(obj) == expected

"""Workload state: what a release's Deployment or Job says about its Workspace.

Pure core, below the helm target (``adapters/helmtarget.py`` lists the objects; this
module reads their ``status``) and above ``core/status.py`` (``summarize`` lets Ready
follow the ``WorkloadState``). KAITO's Workspace conditions are derived where the object
shows them:

- a server (Deployment): **ResourceReady** is True once the Deployment has created a pod
  for every replica and reports no ``ReplicaFailure`` (modelsync provisions no nodes, so
  "resources ready" means the pods exist; that they were scheduled shows as availability);
  **InferenceReady** is True when every replica is available. Ready needs the rollout of
  the current generation observed and every replica available.
- a multi-node server (LeaderWorkerSet, sigs.k8s.io/lws): **ResourceReady** once the LWS
  controller reports a group for every replica, **InferenceReady** (and Ready) once every
  group is ready (LWS counts a group ready when all its pods are).
- a tuning Job: **JobStarted** is True once the Job has a ``startTime`` or an active pod;
  **WorkspaceSucceeded** once it completed. Ready is True for a completed Job and False
  (with the Job's reason) for a failed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.core.status import WorkloadState

RESOURCE_READY = "ResourceReady"
INFERENCE_READY = "InferenceReady"
JOB_STARTED = "JobStarted"
WORKSPACE_SUCCEEDED = "WorkspaceSucceeded"


def workload_state(obj: Mapping[str, Any]) -> WorkloadState | None:
    """The state of a Deployment, LeaderWorkerSet or Job; None for any other kind."""
    kind = obj.get("kind")
    if kind == "Deployment":
        return deployment_state(obj)
    if kind == "LeaderWorkerSet":
        return group_state(obj)
    if kind == "Job":
        return job_state(obj)
    return None


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or () if isinstance(c, Mapping)}


def _flag(value: bool) -> str:
    return "True" if value else "False"


def deployment_state(obj: Mapping[str, Any]) -> WorkloadState:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    wanted = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    created = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    conditions = _conditions(status)
    failure = conditions.get("ReplicaFailure", {})
    progressing = conditions.get("Progressing", {})
    resources = created >= wanted and failure.get("status") != "True"
    serving = observed >= generation and available >= wanted
    extra = {RESOURCE_READY: _flag(resources), INFERENCE_READY: _flag(serving)}
    message = f"{available}/{wanted} replicas available"
    if failure.get("status") == "True":
        message = (
            f"{message}; {failure.get('reason', 'ReplicaFailure')}: {failure.get('message', '')}"
        )
    elif progressing.get("reason") == "ProgressDeadlineExceeded":
        message = f"{message}; rollout stalled: {progressing.get('message', '')}"
    elif observed < generation:
        message = f"{message}; generation {generation} not yet observed"
    return WorkloadState("Deployment", serving, message.strip(), extra)


def group_state(obj: Mapping[str, Any]) -> WorkloadState:
    """A LeaderWorkerSet: its groups, each a leader and workers over several nodes."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    wanted = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    created = int(status.get("replicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    serving = ready >= wanted
    extra = {RESOURCE_READY: _flag(created >= wanted), INFERENCE_READY: _flag(serving)}
    message = f"{ready}/{wanted} multi-node groups ready"
    if not status:
        # Nothing has written a status: no LWS controller has seen the object (yet).
        message += "; no status from the LeaderWorkerSet controller (is it installed?)"
    return WorkloadState("LeaderWorkerSet", serving, message, extra)


def job_state(obj: Mapping[str, Any]) -> WorkloadState:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    conditions = _conditions(status)
    completions = int(spec.get("completions") or 1)
    succeeded = int(status.get("succeeded") or 0)
    active = int(status.get("active") or 0)
    started = bool(status.get("startTime")) or active > 0
    complete = conditions.get("Complete", {}).get("status") == "True" or succeeded >= completions
    failed = conditions.get("Failed", {})
    extra = {JOB_STARTED: _flag(started), WORKSPACE_SUCCEEDED: _flag(complete)}
    if complete:
        return WorkloadState("Job", True, "tuning Job succeeded", extra)
    if failed.get("status") == "True":
        reason = failed.get("reason") or "Failed"
        detail = failed.get("message") or ""
        return WorkloadState(
            "Job", False, f"tuning Job failed: {reason}: {detail}".rstrip(": "), extra
        )
    if started:
        return WorkloadState("Job", False, f"tuning Job running ({active} active pods)", extra)
    return WorkloadState("Job", False, "tuning Job not started yet", extra)

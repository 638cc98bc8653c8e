"""The two seams between the engine and the outside world, as protocols.

A ``Source`` yields commits and the files in them (pygit2 against a remote, a local
repository, a test double over a dict). A ``Target`` reports the releases it holds and
carries out planned steps (Helm against a cluster, or rendered files). The engine knows
nothing else about either, which is what lets one pass run the same way in tests, in CI
and in a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from controller.core.documents import SourceFile
from controller.core.planning import ObservedRelease, Step
from controller.core.status import ActionResult, WorkloadState, WorkspaceStatus


class TargetError(Exception):
    """The target cannot be read or written at all: nothing may be planned against it."""


class GitError(Exception):
    """The source cannot be read: a Git operation failed. ``retryable`` is True for network
    trouble and timeouts. It is the Source's error, so it lives beside the Source port."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Commit(Protocol):
    @property
    def commit(self) -> str: ...

    @property
    def ref(self) -> str: ...


class Source(Protocol):
    def fetch(self) -> Commit: ...

    def read_tree(self, commit: str, prefix: str = "") -> list[SourceFile]: ...

    def changed_paths(
        self, old: str | None, new: str, prefix: str = ""
    ) -> frozenset[str] | None: ...


class Target(Protocol):
    kind: str

    def observe(self, namespaces: Sequence[str]) -> list[ObservedRelease]:
        """The releases in these namespaces (the planner picks its own). Raises TargetError."""
        ...

    def drifted(self, observed: Sequence[ObservedRelease]) -> set[tuple[str, str]]:
        """(namespace, name) of deployed releases whose live state differs from what they
        applied. Raises TargetError."""
        ...

    def workloads(self) -> Mapping[tuple[str, str], WorkloadState]:
        """What the target last saw of each release's workload (empty when it cannot see)."""
        ...

    def apply(self, step: Step, commit: str) -> ActionResult:
        """Carry out one step; a failure is a result, never an exception."""
        ...

    def record(self, commit: str, statuses: Sequence[WorkspaceStatus]) -> None:
        """Persist what the pass saw (a ledger, a branch commit); may be a no-op."""
        ...


@runtime_checkable
class NodePoolTarget(Protocol):
    """A target that can also carry the cluster's Karpenter NodePools and NodeClasses
    (core/nodepools.py): as files beside the releases, or applied to the cluster."""

    def node_pools(self, manifests: Sequence[Mapping[str, Any]]) -> list[str]:
        """Write or apply them; what changed, one line each. Raises TargetError."""
        ...


class ObjectStore(Protocol):
    """The Workspaces' ModelWorkspace objects in the cluster (core/statusobjects.py). Every
    method raises TargetError when the API server cannot be read or written."""

    def read(self, namespaces: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]] | None:
        """This cluster's objects in those namespaces by (namespace, name); None when the
        API server does not serve the kind (the CRD is not installed)."""
        ...

    def read_metadata(
        self, namespaces: Sequence[str]
    ) -> dict[tuple[str, str], dict[str, Any]] | None:
        """The same objects' metadata alone (labels, annotations): cheaper to poll."""
        ...

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply labels and spec; the object as it now is."""
        ...

    def apply_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None: ...

    def delete(self, namespace: str, name: str) -> None: ...

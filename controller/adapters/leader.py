"""Leader election on a coordination.k8s.io/v1 Lease, so one replica reconciles at a time.

Adapter layer, used by ``modelsync run`` (``engine/loop.py``'s ``Controller`` takes it as
its ``leadership`` and runs passes only while ``is_leader``). The rules are client-go's
leaderelection package, on the Lease ``name`` in the controller's namespace with
``holderIdentity`` = the pod's name:

- acquire when the Lease is absent, has no holder, or has expired; never overwrite another
  holder's valid Lease. Expiry is measured on this replica's monotonic clock from when it
  last saw the Lease record change (``observedTime + leaseDurationSeconds``), never from
  the holder's ``renewTime``: clocks of different machines disagree, and a replica whose
  clock runs fast would take a Lease that is still valid. Every write carries the
  ``resourceVersion`` that was read, so of two replicas racing for one Lease the second
  gets 409 Conflict, re-reads next round, and loses;
- renew every ``retry_period``; a leader that has not renewed for ``renew_deadline`` (or
  sees another holder) stops being leader. ``is_leader`` checks that deadline on the
  monotonic clock each time it is read, not only when the elector's thread runs, so a
  leader that was paused past it stops at its next action: the others wait for the
  whole ``lease_duration``, and the difference is the margin for an action in flight;
- ``stop()`` releases the Lease (clears ``holderIdentity``) so a standby takes over at
  its next try instead of waiting for the Lease to expire.

    elector = LeaderElector(
        connection.client(), namespace=os.environ["POD_NAMESPACE"],
        identity=os.environ["POD_NAME"], name="modelsync",
        lease_duration=15, renew_deadline=10, retry_period=2,
        on_change=lambda leading: metrics.leader.set(int(leading)),
    )
    elector.start()          # a daemon thread
    elector.is_leader        # read by the loop before each pass and each action
    elector.stop()           # on shutdown: release and join

RBAC: ``get``, ``create`` and ``update`` on ``leases`` in the controller's namespace.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from enum import Enum

from controller.adapters.kube import (
    JSON,
    KubeClient,
    KubeConflictError,
    KubeError,
    KubeNotFoundError,
    micro_time,
)

log = logging.getLogger(__name__)


class LeaseOutcome(Enum):
    """What one try to acquire or renew the Lease found."""

    LEADING = "leading"  # acquired or renewed
    FOLLOWING = "following"  # someone else holds a valid Lease (or won the race)
    UNKNOWN = "unknown"  # the API server did not answer


class LeaderElector:
    """Holds (or waits for) one Lease; ``is_leader`` says whether this replica leads."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        identity: str,
        name: str = "modelsync",
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        """``clock`` stamps the times written into the Lease (for people and tools to read);
        ``monotonic`` measures every duration this replica decides on."""
        if not identity:
            raise ValueError("leader election needs an identity (POD_NAME)")
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError("need 0 < retry_period < renew_deadline < lease_duration")
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._client = client
        self._clock = clock
        self._monotonic = monotonic
        self._on_change = on_change
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._timeout = max(0.5, min(client.timeout, renew_deadline / 2))
        self._leader = False
        self._renewed = 0.0  # monotonic time the last successful renew was sent
        self._observed = ""  # the Lease record as last read or written
        self._observed_at = 0.0  # monotonic time it was first seen that way
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this replica leads now: it holds the Lease and renewed it within the
        renew deadline (cheap: no API call)."""
        return self._leader and self._monotonic() - self._renewed < self.renew_deadline

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool = True, timeout: float | None = None) -> None:
        """Stop trying; give the Lease up when leading (``release``) so a standby takes over."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if release and self._leader:
            self.release()
        self._set(False)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.step()
            self._stopping.wait(self.retry_period)

    def step(self) -> bool:
        """One try to acquire or renew, and what it means for leadership; True if leading."""
        sent = self._monotonic()  # others saw the write after this, never before
        outcome = self.try_acquire_or_renew()
        if outcome is LeaseOutcome.LEADING:
            self._renewed = sent
            self._set(True)
        elif (
            outcome is LeaseOutcome.FOLLOWING
            or self._monotonic() - self._renewed >= self.renew_deadline
        ):
            self._set(False)
        return self.is_leader

    def _set(self, leading: bool) -> None:
        if leading == self._leader:
            return
        self._leader = leading
        log.info("%s %s leadership of lease %s/%s", self.identity,
                 "acquired" if leading else "lost", self.namespace, self.name)  # fmt: skip
        if self._on_change is not None:
            try:
                self._on_change(leading)
            except Exception:  # a callback must not stop the elector
                log.exception("leader election callback failed")

    # --- the Lease ----------------------------------------------------------------

    def try_acquire_or_renew(self) -> LeaseOutcome:
        now = self._clock()
        try:
            lease = self._client.get(f"{self._path}/{self.name}", timeout=self._timeout)
        except KubeNotFoundError:
            return self._create(now)
        except KubeError as e:
            log.warning("cannot read lease %s/%s: %s", self.namespace, self.name, e)
            return LeaseOutcome.UNKNOWN
        spec: JSON = lease.get("spec") or {}
        self._observe(spec)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity and not self._expired(spec):
            return LeaseOutcome.FOLLOWING
        if holder != self.identity:
            spec["acquireTime"] = micro_time(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec |= {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "renewTime": micro_time(now),
        }
        lease["spec"] = spec
        try:
            self._client.replace(f"{self._path}/{self.name}", lease, timeout=self._timeout)
        except KubeConflictError:
            return LeaseOutcome.FOLLOWING  # someone wrote first; re-read next round
        except KubeError as e:
            log.warning("cannot update lease %s/%s: %s", self.namespace, self.name, e)
            return LeaseOutcome.UNKNOWN
        self._observe(spec)
        return LeaseOutcome.LEADING

    def _create(self, now: float) -> LeaseOutcome:
        spec: JSON = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": 0,
        }
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }
        try:
            self._client.create(self._path, lease, timeout=self._timeout)
        except KubeConflictError:
            return LeaseOutcome.FOLLOWING  # created by another replica just now
        except KubeError as e:
            log.warning("cannot create lease %s/%s: %s", self.namespace, self.name, e)
            return LeaseOutcome.UNKNOWN
        self._observe(spec)
        return LeaseOutcome.LEADING

    def _observe(self, spec: JSON) -> None:
        """Note when the record last changed, by this replica's monotonic clock."""
        record = json.dumps(spec, sort_keys=True, default=str)
        if record != self._observed:
            self._observed, self._observed_at = record, self._monotonic()

    def _expired(self, spec: JSON) -> bool:
        """client-go's rule: unchanged for its whole duration since this replica saw it."""
        duration = float(spec.get("leaseDurationSeconds") or 0)
        return self._observed_at + duration <= self._monotonic()

    def release(self) -> bool:
        """Clear the holder if it is still us, so a standby need not wait for expiry."""
        try:
            lease = self._client.get(f"{self._path}/{self.name}", timeout=self._timeout)
            spec: JSON = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return False
            spec.pop("holderIdentity", None)
            spec |= {"leaseDurationSeconds": 1, "renewTime": micro_time(self._clock())}
            lease["spec"] = spec
            self._client.replace(f"{self._path}/{self.name}", lease, timeout=self._timeout)
        except KubeError as e:
            log.warning("cannot release lease %s/%s: %s", self.namespace, self.name, e)
            return False
        return True

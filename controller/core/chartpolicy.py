"""Chart policy: what Git may make the workload pods do, bounded by the controller's config.

Pure core, beside ``core/validation.py`` (which turns violations in Git files into located
findings) and below ``adapters/charts.py`` (which checks every rendered release before it
is applied or written). Git reaches the workload charts three ways: a cluster file's
``spec.charts.values`` (merged under the controller's own values), a Workspace's
``volumeSource`` fields, and ``spec.charts.repository`` (whose templates then render).
The first two are checked as written, so ``modelsync validate`` can point at the line;
the rendered pods are checked too, because a values check cannot see what a template does
with a value (a ``null`` that drops a default, a chart from another repository).

The defaults are Pod Security Standards "restricted" for everything Git supplies; the
platform team loosens them in the controller's ``policy`` config (never in Git).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.core.documents import FieldPath
from controller.core.findings import field_name

INFERENCE_CHART = "workspace-inference"
TUNING_CHART = "workspace-tuning"

#: Volume types Pod Security Standards "restricted" allows: none reaches the node's files.
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
#: Keys whose ``null`` in Git's values would delete a hardening default of the chart.
_HARDENING_KEYS = frozenset(
    {
        "securityContext",
        "podSecurityContext",
        "runAsNonRoot",
        "runAsUser",
        "allowPrivilegeEscalation",
        "capabilities",
        "drop",
        "privileged",
        "seccompProfile",
    }
)
#: Settings that switch a kernel protection off; allowed only with allowPrivileged.
_UNCONFINED = {
    "seccompProfile": "Unconfined",
    "appArmorProfile": "Unconfined",
    "procMount": "Unmasked",
}
_ENV_KEYS = frozenset({"env", "extraEnv"})
_ENV_FROM_KEYS = frozenset({"envFrom", "extraEnvFrom"})
_ENV_FROM = "envFrom is not allowed by the policy (policy.allowEnvFrom)"
_POD_TEMPLATE = (("spec", "template"),)
#: Where each kind keeps its pod templates (a Pod is its own).
_POD_KINDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Pod": ((),),
    "Deployment": _POD_TEMPLATE,
    "StatefulSet": _POD_TEMPLATE,
    "DaemonSet": _POD_TEMPLATE,
    "ReplicaSet": _POD_TEMPLATE,
    "Job": _POD_TEMPLATE,
    "CronJob": (("spec", "jobTemplate", "spec", "template"),),
    # sigs.k8s.io/lws: the multi-node inference server's leader and worker pods.
    "LeaderWorkerSet": (
        ("spec", "leaderWorkerTemplate", "leaderTemplate"),
        ("spec", "leaderWorkerTemplate", "workerTemplate"),
    ),
}


@dataclass(frozen=True)
class ChartPolicy:
    """The controller's ``policy`` config; the defaults allow nothing beyond "restricted"."""

    chart_repositories: tuple[str, ...] = ()
    allow_privileged: bool = False
    allow_privilege_escalation: bool = False
    allow_run_as_root: bool = False
    allow_host_namespaces: bool = False
    extra_volume_types: frozenset[str] = field(default_factory=frozenset)
    allowed_capabilities: frozenset[str] = field(default_factory=frozenset)
    allowed_env: frozenset[str] = field(default_factory=frozenset)
    allow_env_from: bool = False

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> ChartPolicy:
        """From the ``policy`` mapping of the controller's config (already schema-checked)."""
        return cls(
            chart_repositories=tuple(_normal(r) for r in raw.get("chartRepositories", ())),
            allow_privileged=bool(raw.get("allowPrivileged", False)),
            allow_privilege_escalation=bool(raw.get("allowPrivilegeEscalation", False)),
            allow_run_as_root=bool(raw.get("allowRunAsRoot", False)),
            allow_host_namespaces=bool(raw.get("allowHostNamespaces", False)),
            extra_volume_types=frozenset(raw.get("extraVolumeTypes", ())),
            allowed_capabilities=frozenset(raw.get("allowedCapabilities", ())),
            allowed_env=frozenset(raw.get("allowedEnv", ())),
            allow_env_from=bool(raw.get("allowEnvFrom", False)),
        )

    def volume_allowed(self, kind: str) -> bool:
        return kind in RESTRICTED_VOLUME_TYPES or kind in self.extra_volume_types


@dataclass(frozen=True)
class Violation:
    """One thing the policy refuses, at ``path`` inside what was checked."""

    path: FieldPath
    message: str


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


def repository_violation(repository: str, policy: ChartPolicy) -> str | None:
    """Why a cluster file may not name this chart source, or None when it may."""
    if not repository or _normal(repository) in policy.chart_repositories:
        return None
    listed = ", ".join(policy.chart_repositories) or "none: the bundled charts only"
    return (
        f"chart source {repository!r} is not allowed by the controller's policy "
        f"(policy.chartRepositories; allowed: {listed})"
    )


def values_violations(values: Any, policy: ChartPolicy, path: FieldPath = ()) -> list[Violation]:
    """What Git-supplied chart values would do that the policy refuses."""
    return list(_walk_values(values, policy, path))


def _walk_values(node: Any, policy: ChartPolicy, path: FieldPath) -> Iterator[Violation]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk_values(item, policy, (*path, i))
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        here = (*path, str(key))
        if value is None and key in _HARDENING_KEYS and not policy.allow_run_as_root:
            yield Violation(here, f"null removes the chart's {key} (non-root, hardened) default")
            continue
        if key in _ENV_KEYS and isinstance(value, list):
            yield from _env(value, policy, here)
            continue
        if key in _ENV_FROM_KEYS and value and not policy.allow_env_from:
            yield Violation(here, _ENV_FROM)
            continue
        if key == "volumeSource" and isinstance(value, Mapping):
            yield from _volume(value, policy, here)
            continue
        yield from _setting(str(key), value, policy, here)
        yield from _walk_values(value, policy, here)


def volume_violations(node: Any, policy: ChartPolicy, path: FieldPath = ()) -> list[Violation]:
    """The ``volumeSource`` fields anywhere under ``node`` whose type the policy refuses."""
    found: list[Violation] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            found += volume_violations(item, policy, (*path, i))
    elif isinstance(node, Mapping):
        for key, value in node.items():
            here = (*path, str(key))
            if key == "volumeSource" and isinstance(value, Mapping):
                found += _volume(value, policy, here)
            else:
                found += volume_violations(value, policy, here)
    return found


def _volume(source: Mapping[str, Any], policy: ChartPolicy, path: FieldPath) -> Iterator[Violation]:
    for kind in source:
        if kind != "name" and not policy.volume_allowed(str(kind)):
            yield Violation(
                (*path, str(kind)),
                f"{kind} volumes are not allowed by the policy (policy.extraVolumeTypes)",
            )


def _env(entries: list[Any], policy: ChartPolicy, path: FieldPath) -> Iterator[Violation]:
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name not in policy.allowed_env:
            yield Violation(
                (*path, i),
                f"environment variable {name!r} is not allowed by the policy (policy.allowedEnv)",
            )


def _setting(key: str, value: Any, policy: ChartPolicy, path: FieldPath) -> Iterator[Violation]:
    """One key of a values tree or a pod spec judged on its own."""
    if key == "privileged" and value is True and not policy.allow_privileged:
        yield Violation(path, "privileged containers are not allowed by the policy")
    elif key == "allowPrivilegeEscalation" and value is True:
        if not policy.allow_privilege_escalation:
            yield Violation(path, "privilege escalation is not allowed by the policy")
    elif key == "runAsUser" and value == 0 and not isinstance(value, bool):
        if not policy.allow_run_as_root:
            yield Violation(path, "running as root (uid 0) is not allowed by the policy")
    elif key == "runAsNonRoot" and value is False and not policy.allow_run_as_root:
        yield Violation(path, "runAsNonRoot: false is not allowed by the policy")
    elif key in _UNCONFINED and _unconfined(key, value) and not policy.allow_privileged:
        yield Violation(path, f"{key} {_unconfined(key, value)} is not allowed by the policy")
    elif key in _HOST_NAMESPACES and value is True and not policy.allow_host_namespaces:
        yield Violation(path, f"{key} is not allowed by the policy (policy.allowHostNamespaces)")
    elif key == "hostPort" and value and not policy.allow_host_namespaces:
        yield Violation(path, "host ports are not allowed by the policy")
    elif key == "hostPath" and not policy.volume_allowed("hostPath"):
        yield Violation(path, "hostPath volumes are not allowed by the policy")
    elif key == "add" and path[-2:-1] == ("capabilities",) and isinstance(value, list):
        refused = [c for c in value if str(c) not in policy.allowed_capabilities]
        if refused:
            yield Violation(
                path,
                f"adding capabilities {', '.join(map(str, refused))} is not allowed "
                "by the policy (policy.allowedCapabilities)",
            )


def _unconfined(key: str, value: Any) -> str:
    """What a seccomp, AppArmor or /proc setting switches off, or "" (PSS baseline)."""
    kind = value.get("type") if isinstance(value, Mapping) else value
    return str(kind) if kind == _UNCONFINED[key] else ""


def manifest_violations(objects: Iterable[Mapping[str, Any]], policy: ChartPolicy) -> list[str]:
    """What the rendered pods of a release do that the policy refuses, one line each."""
    lines: list[str] = []
    for obj in objects:
        kind = str(obj.get("kind"))
        name = (obj.get("metadata") or {}).get("name", "")
        paths = _POD_KINDS.get(kind, ())
        for prefix in paths:
            template: Any = obj
            for part in prefix:
                template = template.get(part) if isinstance(template, Mapping) else None
            pod = template.get("spec") if isinstance(template, Mapping) else None
            if not isinstance(pod, Mapping):
                continue
            where = f"{kind} {name}" + (f" {prefix[-1]}" if len(paths) > 1 else "")
            for violation in pod_violations(pod, policy):
                lines.append(f"{where}: {field_name(violation.path)}: {violation.message}")
    return lines


def pod_violations(pod: Mapping[str, Any], policy: ChartPolicy) -> list[Violation]:
    """A pod spec against the policy, effective settings included: a container that does
    not say runAsNonRoot inherits the pod's, and one that says nothing may run as root."""
    found: list[Violation] = []
    for key in _HOST_NAMESPACES:
        found += _setting(key, pod.get(key), policy, (key,))
    for i, volume in enumerate(pod.get("volumes") or ()):
        if isinstance(volume, Mapping):
            found += _volume(volume, policy, ("volumes", i))
    pod_context = pod.get("securityContext") or {}
    for key, value in pod_context.items():
        found += _setting(str(key), value, policy, ("securityContext", str(key)))
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(pod.get(group) or ()):
            if isinstance(container, Mapping):
                found += _container(container, pod_context, policy, (group, i))
    return found


def _container(
    container: Mapping[str, Any],
    pod_context: Mapping[str, Any],
    policy: ChartPolicy,
    path: FieldPath,
) -> list[Violation]:
    found: list[Violation] = []
    context = container.get("securityContext") or {}
    here = (*path, "securityContext")
    for key, value in context.items():
        found += _setting(str(key), value, policy, (*here, str(key)))
    capabilities = context.get("capabilities") or {}
    found += _setting("add", capabilities.get("add"), policy, (*here, "capabilities", "add"))
    if context.get("allowPrivilegeEscalation") is not False and not (
        policy.allow_privilege_escalation or policy.allow_privileged
    ):
        found.append(
            Violation((*here, "allowPrivilegeEscalation"), "must be false (the policy's default)")
        )
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    if non_root is not True and not policy.allow_run_as_root:
        found.append(
            Violation((*here, "runAsNonRoot"), "must be true, in the container or the pod")
        )
    for j, port in enumerate(container.get("ports") or ()):
        if isinstance(port, Mapping):
            found += _setting("hostPort", port.get("hostPort"), policy, (*path, "ports", j))
    if container.get("envFrom") and not policy.allow_env_from:
        found.append(
            Violation(
                (*path, "envFrom"), "envFrom is not allowed by the policy (policy.allowEnvFrom)"
            )
        )
    return found

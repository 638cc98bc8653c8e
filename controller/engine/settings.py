"""Settings of a controller or a one-off sync, and the wiring they imply.

One ``Settings`` value comes from ``/etc/modelsync/config.yaml`` (docs/contracts.md
section 6) overlaid with command-line flags; ``build_syncer`` turns it into a source, a
chart source, a target and the ``Syncer`` over them. ``modelsync sync`` and
``modelsync run`` share this, so a one-off pass is wired exactly like the controller.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import regress

from controller.adapters.bundled import config_schema, load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.gitauth import GitAuth
from controller.adapters.gitsource import GitError, GitRef, GitSource, LocalSource
from controller.adapters.hydrate import HydrateTarget
from controller.core.chartpolicy import ChartPolicy
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.planning import DriftPolicy, FailurePolicy, PlanPolicy
from controller.core.ports import Source, Target
from controller.engine.sync import Syncer

if TYPE_CHECKING:
    # The helm target's modules (the kubernetes client above all) are imported where the
    # helm target is wired, so a hydrate pass or `modelsync validate` never loads them.
    from controller.adapters.kube import KubeClient, KubeConnection
    from controller.adapters.leader import LeaderElector

log = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 64 * 1024
#: A bare number is seconds; a string is Go's duration syntax (``1m30s``, ``500ms``, ``2h``)
#: as schemas/controller-config.schema.json's ``duration`` pattern (one pattern, both sides).
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class SettingsError(Exception):
    """The configuration file or flags are wrong; the message says which key."""


@functools.cache
def _duration_pattern() -> regress.Regex:
    forms = config_schema()["$defs"]["duration"]["anyOf"]
    return regress.Regex(next(str(f["pattern"]) for f in forms if f.get("type") == "string"))


def duration(value: str | float) -> float:
    """``60s``, ``1m30s``, ``500ms`` or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    text = value if isinstance(value, str) else ""
    if _duration_pattern().find(text) is None:
        raise SettingsError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1m30s)")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


@dataclass(frozen=True)
class Settings:
    cluster: str = ""
    repo: str = ""
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    path: str = "clusters"
    interval: float = 60.0
    timeout: float = 120.0
    target: str = ""  # "" = the cluster file's spec.target.kind (default helm)
    out: Path | None = None
    hydrate_branch: str | None = None
    prune: bool = True
    max_prune_ratio: float = 0.5
    force: bool = False
    drift: str = "warn"
    on_upgrade_failure: str = "rollback"
    listen: str = ":8080"
    # With an address, the webhooks move to it alone and ``listen`` keeps the rest.
    webhook_listen: str = ""
    state_dir: Path = Path("/var/lib/modelsync")
    charts_repository: str = ""
    credentials_dir: Path = Path("/etc/modelsync/git")
    webhook_dir: Path = Path("/etc/modelsync/webhook")
    leader_election: Mapping[str, Any] = field(default_factory=dict)
    kubeconfig: Path | None = None  # None: in-cluster, else $KUBECONFIG or ~/.kube/config
    kube_context: str | None = None
    request_timeout: float = 30.0  # per Kubernetes API request (Helm actions: timeout)
    chart_policy: ChartPolicy = field(default_factory=ChartPolicy)
    # How often the controller looks for requests made through the API (modelsync reconcile).
    request_poll: float = 2.0
    log_format: str = "text"  # text | json
    concurrency: int | None = None  # plan actions at a time; None: the target's default
    # Where rollouts are reported (engine/notifications.py); secrets come from
    # notifications_dir, never from this mapping.
    notifications: Mapping[str, Any] = field(default_factory=dict)
    notifications_dir: Path = Path("/etc/modelsync/notifications")

    @property
    def local(self) -> bool:
        return bool(self.repo) and "://" not in self.repo and not _SCP.match(self.repo)

    @property
    def policy(self) -> PlanPolicy:
        return PlanPolicy(
            prune=self.prune,
            max_prune_ratio=self.max_prune_ratio,
            force=self.force,
            on_failure=FailurePolicy(self.on_upgrade_failure),
            drift=DriftPolicy(self.drift),
        )


_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")


def load_settings(config: Path, /, **overrides: Any) -> Settings:
    """Settings from a config file (contracts section 6); non-None overrides win.

    The file is checked against schemas/controller-config.schema.json, the schema the
    controller chart's values carry too. Each top-level key becomes the Settings field of
    the same name in snake_case; only ``repo``, ``charts`` and ``policy`` are reshaped.
    """
    try:
        data = config.read_bytes()
    except OSError as e:
        raise SettingsError(f"cannot read {config}: {e.strerror}") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise SettingsError(f"{config} is over {MAX_CONFIG_BYTES} bytes")
    raw = _checked(config, data)
    schema = config_schema()["properties"]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _RESHAPED:
            values |= _RESHAPED[key](value)
        elif schema[key].get("$ref") == "#/$defs/duration":
            values[_snake(key)] = duration(value)
        else:
            values[_snake(key)] = value
    settings = Settings(**values)
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _checked(config: Path, data: bytes) -> dict[str, Any]:
    parsed = parse_document(SourceFile(str(config), data=data))
    if not isinstance(parsed, Document):
        raise SettingsError(f"{config}:{parsed.line}: not valid YAML: {parsed.message}")
    if not parsed.body:
        return {}
    findings = load_bundle().schemas.validate("ControllerConfig", parsed)
    if findings:
        raise SettingsError(
            "; ".join(f"{f.file}:{f.line}: {f.field or 'config'}: {f.message}" for f in findings)
        )
    return dict(parsed.body)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _repo(value: Mapping[str, Any]) -> dict[str, Any]:
    # "" is how the chart says "not set" (tag, commit): the controller treats it as absent.
    return {("repo" if k == "url" else k): str(v) for k, v in value.items() if v != ""}


def _charts(value: Mapping[str, Any]) -> dict[str, Any]:
    return {"charts_repository": str(value.get("repository") or "")}


def _policy(value: Mapping[str, Any]) -> dict[str, Any]:
    return {"chart_policy": ChartPolicy.from_config(value)}


_RESHAPED: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "repo": _repo,
    "charts": _charts,
    "policy": _policy,
}


def chart_policy(settings: Settings) -> ChartPolicy:
    """The policy, with the controller's own chart repository among the allowed sources."""
    policy = settings.chart_policy
    if settings.charts_repository:
        own = settings.charts_repository.strip().rstrip("/")
        policy = replace(policy, chart_repositories=(*policy.chart_repositories, own))
    return policy


def check(settings: Settings) -> None:
    if not settings.cluster:
        raise SettingsError("no cluster given (--cluster or cluster: in the config)")
    if not settings.repo:
        raise SettingsError("no repository given (--repo or repo.url in the config)")
    if settings.target not in ("", "helm", "hydrate"):
        raise SettingsError(f"target must be helm or hydrate, got {settings.target!r}")
    for key, value, allowed in (
        ("onUpgradeFailure", settings.on_upgrade_failure, FailurePolicy),
        ("drift", settings.drift, DriftPolicy),
    ):
        names = sorted(p.value for p in allowed)
        if value not in names:
            raise SettingsError(f"{key} must be one of {', '.join(names)}, got {value!r}")
    if settings.log_format not in ("text", "json"):
        raise SettingsError(f"logFormat must be text or json, got {settings.log_format!r}")
    if sum(x is not None for x in (settings.branch, settings.tag, settings.commit)) > 1:
        raise SettingsError("give at most one of branch, tag and commit")


def build_source(settings: Settings) -> GitSource | LocalSource:
    if settings.local:
        rev = settings.commit or settings.tag or settings.branch or "HEAD"
        return LocalSource(Path(settings.repo), rev)
    ref = (
        GitRef(branch=settings.branch, tag=settings.tag, commit=settings.commit)
        if (settings.branch or settings.tag or settings.commit)
        else GitRef(branch="main")
    )
    auth = GitAuth.from_env(os.environ)
    if auth == GitAuth() and settings.credentials_dir.is_dir():
        auth = GitAuth.from_files(settings.credentials_dir)
    key = hashlib.sha256(f"{settings.repo}\n{ref}".encode()).hexdigest()[:16]
    return GitSource(
        settings.repo, ref, settings.state_dir / "git" / key, auth, timeout=settings.timeout
    )


def build_charts(settings: Settings) -> ChartSource:
    return ChartSource(
        load_bundle().charts_dir,
        repository=settings.charts_repository,
        cache_dir=settings.state_dir / "charts",
        policy=chart_policy(settings),
    )


def build_connection(settings: Settings) -> KubeConnection:
    """How to reach the cluster: the kubeconfig and context given, or in-cluster."""
    from controller.adapters.kube import KubeConnection

    return KubeConnection.detect(
        settings.kubeconfig, settings.kube_context, request_timeout=settings.request_timeout
    )


_LEADER_KEYS = {"enabled", "leaseName", "leaseDuration", "renewDeadline", "retryPeriod"}


def build_leader(
    settings: Settings,
    client: KubeClient,
    *,
    environ: Mapping[str, str] = os.environ,
    on_change: Callable[[bool], None] | None = None,
) -> LeaderElector | None:
    """The Lease elector ``leaderElection`` asks for, or None when it is disabled.

    The Lease lives in ``POD_NAMESPACE`` with ``POD_NAME`` as the holder's identity
    (contracts section 6); outside a pod, the host name in namespace ``default``.
    """
    config = dict(settings.leader_election)
    unknown = set(config) - _LEADER_KEYS
    if unknown:
        raise SettingsError(f"unknown key leaderElection.{sorted(unknown)[0]}")
    if not config.get("enabled", True):
        return None
    from controller.adapters.leader import LeaderElector

    try:
        return LeaderElector(
            client,
            namespace=environ.get("POD_NAMESPACE") or "default",
            identity=environ.get("POD_NAME") or socket.gethostname(),
            name=str(config.get("leaseName") or "modelsync"),
            lease_duration=duration(config.get("leaseDuration", 15)),
            renew_deadline=duration(config.get("renewDeadline", 10)),
            retry_period=duration(config.get("retryPeriod", 2)),
            on_change=on_change,
        )
    except ValueError as e:
        raise SettingsError(f"leaderElection: {e}") from e


def declared_target(source: Source, settings: Settings) -> tuple[str, str | None]:
    """What the cluster file says about how it is applied: ``spec.target.kind`` and
    ``branch``. Read once at start; when it cannot be read, the helm target it is."""
    directory = f"{settings.path.strip('/')}/{settings.cluster}".lstrip("/")
    try:
        files = source.read_tree(source.fetch().commit, directory)
    except GitError as e:
        log.warning(
            "cannot read %s/cluster.yaml to choose the target (%s); using helm", directory, e
        )
        return "helm", None
    cluster_file = next((f for f in files if f.path == f"{directory}/cluster.yaml"), None)
    parsed = parse_document(cluster_file) if cluster_file is not None else None
    if not isinstance(parsed, Document):
        return "helm", None
    target = (parsed.body.get("spec") or {}).get("target") or {}
    if not isinstance(target, dict):
        return "helm", None
    kind = target.get("kind") if target.get("kind") in ("helm", "hydrate") else "helm"
    branch = target.get("branch") if isinstance(target.get("branch"), str) else None
    return str(kind), branch


def build_syncer(settings: Settings, target: Target | None = None) -> Syncer:
    """A Syncer for the settings; ``target`` overrides the one the settings name.

    For the helm target, ``syncer.target.connection`` is the cluster connection that the
    leader election and the event recorder can share.
    """
    check(settings)
    bundle = load_bundle()
    charts = build_charts(settings)
    source = build_source(settings)
    kind, branch = settings.target, settings.hydrate_branch
    if target is None and (not kind or (kind == "hydrate" and not branch and not settings.out)):
        declared_kind, declared_branch = declared_target(source, settings)
        kind, branch = kind or declared_kind, branch or declared_branch
    objects = None
    if target is None and kind != "hydrate":
        from controller.adapters.helmtarget import HelmTarget
        from controller.adapters.workspaceobjects import WorkspaceObjects

        connection = build_connection(settings)
        target = HelmTarget(connection, charts, settings.cluster, timeout=settings.timeout)
        # Each Workspace's ModelWorkspace object: its status, and requests through the API.
        objects = WorkspaceObjects(connection.client(), settings.cluster)
    elif target is None:
        if not branch and settings.out is None:
            raise SettingsError(
                "the hydrate target needs --out DIR or a branch "
                "(--hydrate-branch, or spec.target.branch in the cluster file)"
            )
        if branch and source.follows(branch):
            raise SettingsError(
                f"the hydrate branch {branch} is the branch the Workspaces are read from; "
                "its clusters/ would be replaced by rendered manifests (choose another "
                "--hydrate-branch or spec.target.branch)"
            )
        out = settings.out or settings.state_dir / "hydrate"
        target = HydrateTarget(
            out, charts, settings.cluster, branch=branch, publisher=source if branch else None
        )
    return Syncer(
        source=source,
        target=target,
        schemas=bundle.schemas,
        catalog=bundle.catalog,
        charts=charts,
        cluster=settings.cluster,
        path=settings.path,
        policy=settings.policy,
        chart_policy=chart_policy(settings),
        concurrency=settings.concurrency or default_concurrency(target),
        objects=objects,
    )


def default_concurrency(target: object) -> int:
    """Four plan actions at a time unless the config says otherwise (``concurrency``).
    Rendering runs on every core (the SDK's native calls release the GIL), so the hydrate
    target stops at the core count; Helm actions mostly wait on the API server, so the helm
    target runs four on any machine (the fault suite passes at 4: docs/security.md)."""
    return min(4, os.cpu_count() or 1) if isinstance(target, HydrateTarget) else 4

"""What the emulated API server does to objects: selectors, patches, apply, metadata.

Test support, below `kubeapi_store.py`: pure functions on plain JSON dicts, no I/O. They
approximate kube-apiserver closely enough for Helm and the `kubernetes` client: label and
field selectors as the server parses them; JSON merge patch (RFC 7386), JSON patch
(RFC 6902, via `jsonpatch`), strategic merge patch without schemas (merge patch, plus lists
whose items all have a `name` merged by name, plus the `$patch` / `$setElementOrder`
directives); server-side apply (create when absent, merge otherwise, and drop fields and
named list items the same manager applied before but no longer applies; no managedFields,
no conflicts between managers); and the status a healthy controller would report.
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Mapping
from typing import Any, cast

import jsonpatch

JSON = dict[str, Any]

_SELECTOR_TERM = re.compile(
    r"""^\s*(?:
        (?P<absent>!)\s*(?P<akey>[^\s!=(),]+) |
        (?P<skey>[^\s!=(),]+)\s*(?P<op>\s+notin\s+|\s+in\s+)\s*\((?P<values>[^)]*)\) |
        (?P<ekey>[^\s!=(),]+)\s*(?P<eq>==|=|!=)\s*(?P<value>[^\s,]*) |
        (?P<key>[^\s!=(),]+)
    )\s*$""",
    re.VERBOSE,
)


class SelectorError(ValueError):
    """A label or field selector the API server would reject (400 BadRequest)."""


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def matches_labels(selector: str | None, labels: Mapping[str, str] | None) -> bool:
    """Whether labels satisfy a label selector such as `owner=helm,name in (a,b),!gone`."""
    labels = labels or {}
    for term in _split_terms(selector or ""):
        match = _SELECTOR_TERM.match(term)
        if match is None:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        if match["absent"]:
            ok = match["akey"] not in labels
        elif match["skey"]:
            values = {v.strip() for v in match["values"].split(",") if v.strip()}
            present = match["skey"] in labels and labels[match["skey"]] in values
            ok = present if match["op"].strip() == "in" else not present
        elif match["ekey"]:
            equal = labels.get(match["ekey"]) == match["value"]
            ok = equal if match["eq"] != "!=" else not equal
        else:
            ok = match["key"] in labels
        if not ok:
            return False
    return True


def _field(obj: Mapping[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return str(node).lower()
    return str(node)


def matches_fields(selector: str | None, obj: Mapping[str, Any]) -> bool:
    """Whether an object satisfies a field selector such as `metadata.name=x,spec.nodeName!=`."""
    for term in _split_terms(selector or ""):
        match = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if match is None:
            raise SelectorError(f"invalid field selector: {term!r}")
        path, op, value = match.groups()
        equal = _field(obj, path) == value
        if equal != (op != "!="):
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, `null` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: JSON = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _named_items(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch without schemas: lists of items with a `name` merge by name."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result: JSON = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [item for item in result.get(name, []) if item not in value]
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list) and _named_items(value):
            result[key] = _merge_named_lists(result[key], value)
        elif isinstance(value, list):
            result[key] = [
                strategic_merge_patch(None, item) for item in value if not _is_delete(item)
            ]
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _is_delete(item: Any) -> bool:
    return isinstance(item, dict) and item.get("$patch") == "delete"


def _merge_named_lists(live: list[Any], patch: list[JSON]) -> list[Any]:
    if not _named_items(live):
        return [strategic_merge_patch(None, item) for item in patch if not _is_delete(item)]
    merged = [copy.deepcopy(item) for item in live]
    for item in patch:
        index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
        if _is_delete(item):
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(strategic_merge_patch(None, item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def json_patch(target: JSON, operations: list[JSON]) -> JSON:
    """RFC 6902 JSON patch; raises `jsonpatch.JsonPatchException` on a failed operation."""
    return cast(JSON, jsonpatch.apply_patch(target, operations))


def _prune(live: Any, previous: Any, current: Any) -> Any:
    """Remove from live what a manager applied before (previous) but no longer applies."""
    if isinstance(live, list) and isinstance(previous, list) and isinstance(current, list):
        return _prune_named(live, previous, current)
    if not isinstance(live, dict) or not isinstance(previous, dict):
        return live
    current = current if isinstance(current, dict) else {}
    pruned = dict(live)
    for key, value in previous.items():
        if key not in current:
            pruned.pop(key, None)
        elif key in pruned:
            pruned[key] = _prune(pruned[key], value, current[key])
    return pruned


def _prune_named(live: list[Any], previous: list[Any], current: list[Any]) -> list[Any]:
    """Lists of named items (containers, env, ports): drop unapplied items, prune the rest."""
    if not (_named_items(live) and _named_items(previous) and _named_items(current)):
        return live
    before = {item["name"]: item for item in previous}
    now = {item["name"]: item for item in current}
    return [
        _prune(item, before[item["name"]], now[item["name"]]) if item["name"] in now else item
        for item in live
        if item["name"] in now or item["name"] not in before
    ]


def server_side_apply(live: JSON | None, applied: JSON, previous: JSON | None) -> JSON:
    """The object after applying `applied`; `previous` is what this manager applied last."""
    if live is None:
        return copy.deepcopy(applied)
    base = _prune(copy.deepcopy(live), previous or {}, applied)
    return cast(JSON, strategic_merge_patch(base, applied))


def now_rfc3339() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spec_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether anything but metadata and status changed (what bumps metadata.generation)."""
    ignored = {"metadata", "status"}
    return {k: v for k, v in old.items() if k not in ignored} != {
        k: v for k, v in new.items() if k not in ignored
    }


def ready_status(obj: Mapping[str, Any]) -> JSON | None:
    """The status a healthy controller would report for a workload, or None for other kinds.

    What kstatus (Helm's `wait="watcher"`) reads as Current: Deployments and StatefulSets
    with every replica updated and available, Jobs complete, Pods running and ready.
    """
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    generation = (obj.get("metadata") or {}).get("generation", 1)
    now = now_rfc3339()
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = spec.get("replicas", 1)
        status: JSON = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        if kind == "Deployment":
            status["conditions"] = [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ]
        if kind == "StatefulSet":
            status.update(currentReplicas=replicas, currentRevision="r1", updateRevision="r1")
        return status
    if kind == "Job":
        return {
            "startTime": now,
            "completionTime": now,
            "succeeded": spec.get("completions", 1),
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"},
            ],
        }
    if kind == "Pod":
        return {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "startTime": now,
        }
    if kind == "PersistentVolumeClaim":
        return {"phase": "Bound"}
    return None

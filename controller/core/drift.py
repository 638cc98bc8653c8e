"""Drift: does a live object still hold what its release's manifest set?

Pure core, below the helm target's drift check (``adapters/helmtarget.py`` reads the
manifest from Helm and the live objects from the API server; this module compares them).
The manifest is compared as a subset of the live object, the way server-side apply sees
it: fields the manifest does not set (defaults, ``status``, what other controllers add)
are not drift, and neither are the metadata fields the server owns. Lists of named items
(containers, env, ports, volumes) are matched by name, as strategic merge does; other
lists element by element. A finished Job that Kubernetes removed after its TTL is not
missing. Scalars compare by value as YAML text would: ``1``, ``1.0`` and
``"1"`` are the same, and so are quantities such as ``1Gi`` and ``1024Mi``, which the API
server rewrites into its canonical form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

#: Metadata the API server sets or rewrites; a manifest never owns these.
SERVER_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def differs(manifest: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Paths of the fields the manifest sets that the live object no longer holds.

    Empty when the live object still matches. Paths read like ``spec.replicas``,
    ``spec.template.spec.containers[name=vllm].image`` or
    ``metadata.labels["app.kubernetes.io/name"]``.
    """
    found: list[str] = []
    for key, value in manifest.items():
        if key == "status":
            continue
        want = value
        if key == "metadata" and isinstance(value, Mapping):
            want = {k: v for k, v in value.items() if k not in SERVER_METADATA}
        _compare(want, live.get(key), key, found)
    return found


def may_be_absent(manifest: Mapping[str, Any]) -> bool:
    """Whether the object's absence is expected rather than drift.

    A Job with ``ttlSecondsAfterFinished`` is deleted by Kubernetes once it has finished
    (the tuning chart keeps finished Jobs 7 days); re-creating it would train again.
    """
    spec = manifest.get("spec")
    return (
        manifest.get("kind") == "Job"
        and isinstance(spec, Mapping)
        and spec.get("ttlSecondsAfterFinished") is not None
    )


def _compare(want: Any, have: Any, path: str, found: list[str]) -> None:
    if have is None and _zero(want):
        return  # the server leaves empty and zero values out of what it returns
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            found.append(path)
            return
        for key, value in want.items():
            _compare(value, have.get(key), _join(path, str(key)), found)
        return
    if isinstance(want, list):
        if not isinstance(have, list):
            found.append(path)
        elif _named(want):
            _compare_named(want, have, path, found)
        elif len(want) != len(have):
            found.append(path)
        else:
            for index, (w, h) in enumerate(zip(want, have, strict=True)):
                _compare(w, h, f"{path}[{index}]", found)
        return
    if not same_scalar(want, have):
        found.append(path)


def _compare_named(want: Sequence[Any], have: Sequence[Any], path: str, found: list[str]) -> None:
    """Each named item must be in the live list; items others added are not drift."""
    live = {item.get("name"): item for item in have if isinstance(item, Mapping)}
    for item in want:
        where = f"{path}[name={item['name']}]"
        if item["name"] not in live:
            found.append(where)
        else:
            _compare(item, live[item["name"]], where, found)


def _named(items: Sequence[Any]) -> bool:
    return bool(items) and all(isinstance(i, Mapping) and "name" in i for i in items)


def _zero(value: Any) -> bool:
    return value is None or value is False or value in ("", 0) or value in ({}, [])


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return f"{path}.{key}"
    return f'{path}["{key}"]'


def same_scalar(want: Any, have: Any) -> bool:
    """Equal as YAML values: by number (quantities included) where both are numbers."""
    if type(want) is type(have) and want == have:
        return True
    a, b = quantity(want), quantity(have)
    if a is not None and b is not None:
        return a == b
    return _text(want) == _text(have)


def quantity(value: Any) -> Decimal | None:
    """A number or Kubernetes quantity (``500m``, ``16Gi``, ``1e3``) as a Decimal."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX[suffix]
    except InvalidOperation:
        return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""Semantic checks of one Workspace, beyond what its JSON Schema can say.

Each check returns findings pinned to the field at fault. Checks that need the whole
cluster (unique names, capacity) live in ``validation``; placement and sizing in
``placement``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.core.catalog import Catalog, Preset
from controller.core.destinations import refused_url
from controller.core.findings import Finding, at, did_you_mean
from controller.core.kaitorules import kaito_findings
from controller.core.podtemplates import template_findings
from controller.core.specs import ANNOTATION_PREFIX, Workspace
from controller.core.trainingconfig import SECTIONS, problems, sections_of

#: ``org/model`` as the Hugging Face Hub spells repository ids.
HUGGING_FACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
KNOWN_ANNOTATIONS = frozenset(
    ANNOTATION_PREFIX + name
    for name in (
        "suspend",
        "runtime",
        "max-model-len",
        "max-concurrent-sequences",
        "gpu-memory-utilization",
        "dtype",
        "chart-version",
        "pool",
    )
)
#: vLLM flags modelsync sets itself from the preset and the sizing (a multi-node group's
#: pipeline stages and Ray backend too).
RESERVED_VLLM_FLAGS = frozenset(
    {
        "model",
        "served-model-name",
        "host",
        "port",
        "tensor-parallel-size",
        "pipeline-parallel-size",
        "distributed-executor-backend",
        "revision",
    }
)


def check_workspace(
    ws: Workspace, catalog: Catalog, *, default_access_secret: str | None = None
) -> tuple[list[Finding], Preset | None]:
    """Findings for one Workspace, and its preset when it resolves.

    ``default_access_secret`` is the cluster's ``defaults.modelAccessSecret``: with it, a
    gated model needs no secret in the Workspace (KAITO files carry none).
    """
    doc = ws.document
    findings = _annotation_findings(ws) + kaito_findings(ws)
    has_inference, has_tuning = "inference" in doc.body, "tuning" in doc.body
    if has_inference == has_tuning:
        findings.append(
            at(
                doc,
                (),
                "set exactly one of inference and tuning" + (", not both" if has_inference else ""),
                code="kind",
            )
        )
        return findings, None
    base = ("tuning",) if ws.tuning else ("inference",)
    if ws.inference is not None and ws.inference.has_template:
        return findings + template_findings(ws), None
    findings += _inference_findings(ws) if ws.inference is not None else _tuning_findings(ws)
    ref = ws.preset
    if ref is None:
        wanted = "'preset'" if ws.tuning else "'preset' or 'template'"
        findings.append(at(doc, base, f"missing required field {wanted}", code="schema"))
        return findings, None
    preset = catalog.preset(ref.name)
    if preset is None:
        findings.append(
            at(doc, (*base, "preset", "name"), _unknown(ref.name, catalog), code="preset")
        )
        return findings, None
    options = (*base, "preset", "presetOptions")
    if preset.gated and not (ref.access_secret or default_access_secret):
        findings.append(
            at(
                doc,
                (*options, "modelAccessSecret"),
                f"{preset.huggingface_id} is gated on Hugging Face: name a Secret "
                "holding HF_TOKEN in presetOptions.modelAccessSecret, or set "
                "spec.defaults.modelAccessSecret in the cluster file for every Workspace",
                code="access",
            )
        )
    if ref.access_mode == "private" and not ref.image:
        findings.append(
            at(
                doc,
                (*options, "image"),
                "accessMode private needs presetOptions.image (the private model image)",
                code="access",
            )
        )
    findings.extend(_context_findings(ws, preset))
    if ws.tuning is not None:
        findings.extend(_tuning_preset_findings(ws, preset))
    elif not preset.vllm_supported:
        findings.append(
            at(
                doc,
                (*base, "preset", "name"),
                f"preset {preset.name!r} has no vLLM runtime",
                code="runtime",
            )
        )
    return findings, preset


def _context_findings(ws: Workspace, preset: Preset) -> list[Finding]:
    """An inline max-model-len beyond the model's context (KAITO: ModelTokenLimit)."""
    config = ws.inference.config if ws.inference is not None else None
    flags = config.get("vllm") if isinstance(config, Mapping) else None
    length = flags.get("max-model-len") if isinstance(flags, Mapping) else None
    if not isinstance(length, int) or length <= preset.context_length:
        return []
    return [
        at(
            ws.document,
            ("inference", "config", "vllm", "max-model-len"),
            f"{length} is beyond {preset.name}'s context of {preset.context_length} tokens",
            code="config",
        )
    ]


def _unknown(name: str, catalog: Catalog) -> str:
    if HUGGING_FACE_ID.fullmatch(name):
        # KAITO serves any Hugging Face model best-effort; modelsync sizes only what it has
        # figures for, so the figures are pinned in the repo and reviewed first.
        return (
            f"{name} is a Hugging Face model without a preset: run `modelsync presets add "
            f"{name}` and commit the file it writes to the repo's presets/ folder"
        )
    close = catalog.closest_preset(name)
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"unknown preset {name!r}{hint}; `modelsync presets list` shows them"


def _annotation_findings(ws: Workspace) -> list[Finding]:
    return [
        at(
            ws.document,
            ("metadata", "annotations", key),
            f"unknown modelsync annotation {key!r}{did_you_mean(key, KNOWN_ANNOTATIONS)}",
            code="annotation",
        )
        for key in ws.annotations
        if key.startswith(ANNOTATION_PREFIX) and key not in KNOWN_ANNOTATIONS
    ]


def _inference_findings(ws: Workspace) -> list[Finding]:
    """Adapters and inline vLLM config: what needs no preset to judge."""
    assert ws.inference is not None
    doc, findings = ws.document, []
    adapters = ws.inference.adapters
    seen: dict[str, int] = {}
    for i, adapter in enumerate(adapters):
        path = ("inference", "adapters", i, "source")
        if adapter.name in seen:
            findings.append(
                at(
                    doc,
                    (*path, "name"),
                    f"adapter name {adapter.name!r} already used by adapters[{seen[adapter.name]}]",
                    code="adapters",
                )
            )
        seen.setdefault(adapter.name, i)
        if adapter.strength is not None:
            findings.append(
                at(
                    doc,
                    ("inference", "adapters", i, "strength"),
                    "vLLM does not apply adapter strength; remove it (KAITO refuses it under "
                    "vLLM too)",
                    code="adapters",
                )
            )
        if (adapter.image is None) == (adapter.volume_source is None):
            findings.append(
                at(doc, path, "set exactly one of image and volumeSource", code="adapters")
            )
    if isinstance(ws.inference.config, Mapping):
        findings.extend(_vllm_config_findings(ws, ws.inference.config))
    return findings


def _vllm_config_findings(ws: Workspace, config: Mapping[str, Any]) -> list[Finding]:
    doc, base, findings = ws.document, ("inference", "config"), []
    for key in config:
        if key not in ("vllm", "max-probe-steps"):
            findings.append(
                at(
                    doc,
                    (*base, key),
                    f"unknown inference config section {key!r}{did_you_mean(key, ['vllm'])}",
                    code="config",
                )
            )
    flags = config.get("vllm", {})
    if not isinstance(flags, Mapping):
        return [
            *findings,
            at(doc, (*base, "vllm"), "must be a mapping of vLLM flags", code="config"),
        ]
    for flag, value in flags.items():
        path = (*base, "vllm", flag)
        if flag in RESERVED_VLLM_FLAGS:
            findings.append(
                at(
                    doc,
                    path,
                    f"{flag} is set by modelsync from the preset and sizing",
                    code="config",
                )
            )
        elif isinstance(value, Mapping | list):
            findings.append(at(doc, path, "vLLM flag values must be scalars", code="config"))
    length = flags.get("max-model-len")
    if length is not None and (
        not isinstance(length, int) or isinstance(length, bool) or length < 1
    ):
        findings.append(
            at(
                doc,
                (*base, "vllm", "max-model-len"),
                f"must be a positive integer, got {length!r}",
                code="config",
            )
        )
    share = flags.get("gpu-memory-utilization")
    if share is not None and not (isinstance(share, int | float) and 0 < share <= 1):
        findings.append(
            at(
                doc,
                (*base, "vllm", "gpu-memory-utilization"),
                f"must be in (0, 1], got {share!r}",
                code="config",
            )
        )
    return findings


def _tuning_preset_findings(ws: Workspace, preset: Preset) -> list[Finding]:
    assert ws.tuning is not None
    doc, tuning, findings = ws.document, ws.tuning, []
    if not preset.tuning_methods:
        findings.append(
            at(
                doc,
                ("tuning", "preset", "name"),
                f"preset {preset.name!r} does not support tuning",
                code="tuning",
            )
        )
    elif tuning.method not in preset.tuning_methods:
        supported = ", ".join(sorted(preset.tuning_methods))
        findings.append(
            at(
                doc,
                ("tuning", "method"),
                f"preset {preset.name!r} supports {supported}, not {tuning.method}",
                code="tuning",
            )
        )
    if isinstance(tuning.config, Mapping):
        findings.extend(_training_config_findings(ws, preset))
    return findings


def _tuning_findings(ws: Workspace) -> list[Finding]:
    """Input, output and count: what needs no preset to judge."""
    assert ws.tuning is not None
    doc, tuning, findings = ws.document, ws.tuning, []
    sources = [key for key in ("urls", "image", "volumeSource") if key in tuning.input]
    if len(sources) != 1:
        findings.append(
            at(
                doc,
                ("tuning", "input"),
                "set exactly one of urls, image and volumeSource"
                + (f" (got {', '.join(sources)})" if sources else ""),
                code="tuning",
            )
        )
    urls = tuning.input.get("urls")
    for i, url in enumerate(urls if isinstance(urls, list) else []):
        reason = refused_url(url, allow_private=False) if isinstance(url, str) else None
        if reason is not None:
            findings.append(
                at(
                    doc,
                    ("tuning", "input", "urls", i),
                    f"{url!r} {reason}; the cluster must not be sent to fetch from there",
                    code="destination",
                )
            )
    sinks = [key for key in ("image", "volumeSource") if key in tuning.output]
    if len(sinks) != 1:
        findings.append(
            at(
                doc,
                ("tuning", "output"),
                "set exactly one of image and volumeSource",
                code="tuning",
            )
        )
    elif "image" in tuning.output and "imagePushSecret" not in tuning.output:
        findings.append(
            at(
                doc,
                ("tuning", "output", "imagePushSecret"),
                "an output image needs imagePushSecret (KAITO refuses it without)",
                code="tuning",
            )
        )
    if ws.count > 1:
        findings.append(
            at(
                doc,
                ("resource", "count"),
                "a tuning Job runs on one node: set resource.count to 1 (KAITO refuses more)",
                code="tuning",
            )
        )
    return findings


def _training_config_findings(ws: Workspace, preset: Preset) -> list[Finding]:
    assert ws.tuning is not None
    assert isinstance(ws.tuning.config, Mapping)
    sections = sections_of(ws.tuning.config)
    base = ("tuning", "config") + (() if sections is ws.tuning.config else ("training_config",))
    return [
        at(
            ws.document,
            (*base, *path),
            message + (did_you_mean(path[0], SECTIONS) if message.startswith("unknown") else ""),
            code="config",
        )
        for path, message in problems(
            sections, method=ws.tuning.method, context_length=preset.context_length
        )
    ]

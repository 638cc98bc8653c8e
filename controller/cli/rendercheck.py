"""The rendered half of the chart policy at pull-request time, for ``modelsync validate``.

``core/validation.py`` checks what Git writes (chart values, volumeSources) against the
policy. Where a cluster file sets values for a workload chart, this renders one of its
releases with the bundled chart and checks the pods, which catches what a values check
cannot see: a ``null`` that drops a template's default, a value a template turns into
something else. Without cluster values the bundled templates render only the controller's
own values and the Workspace's (checked as values), so nothing is rendered and validate
keeps off the Helm SDK. The controller checks every release's render before it applies it
(``adapters/charts.py``).
"""

from __future__ import annotations

from controller.adapters.charts import ChartError, ChartSource, PolicyError
from controller.core.findings import Finding, at
from controller.core.policyfindings import CODE
from controller.core.releases import desired_release
from controller.core.validation import Report


def rendered_findings(report: Report, charts: ChartSource) -> list[Finding]:
    bundled = charts.versions()
    findings: list[Finding] = []
    for cluster in report.clusters:
        spec = cluster.cluster
        if spec is None:
            continue
        values = spec.charts.get("values") or {}
        seen: set[str] = set()
        for result in cluster.workspaces:
            ws = result.workspace
            if ws is None or not result.valid or result.placement is None:
                continue
            release = desired_release(result, spec, bundled)
            if release.chart in seen or release.chart not in values:
                continue
            if release.chart_version != bundled[release.chart]:
                continue  # a chart version that is not bundled is checked where it is pulled
            seen.add(release.chart)
            try:
                charts.render_files(release)
            except PolicyError as e:
                path = ("spec", "charts", "values", release.chart)
                message = f"rendering {ws.name} with these values: " + "; ".join(e.violations)
                findings.append(at(spec.document, path, message, code=CODE, value=False))
            except ChartError:
                continue  # values the chart's schema refuses fail the apply with Helm's message
    return findings

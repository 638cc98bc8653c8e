"""Write the controller's config schema into charts/modelsync/values.schema.json.

schemas/controller-config.schema.json is the one definition of /etc/modelsync/config.yaml:
the controller validates its config file with it. The chart's `config` section carries a
generated copy, because Helm does not resolve a $ref into another file reliably: the copy
has every local $ref inlined, leaves out the keys the chart sets itself (the listen
addresses) and requires what a chart install cannot do without (cluster and repo).

    python charts/configschema.py            # rewrite the config section when stale
    python charts/configschema.py --check    # exit 1 when it is stale (CI, tests)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.core.schemas import inline_local_refs  # noqa: E402

SOURCE = ROOT / "schemas" / "controller-config.schema.json"
TARGET = ROOT / "charts" / "modelsync" / "values.schema.json"
#: Written by the chart's template itself (charts/modelsync/templates/_helpers.tpl).
CHART_OWNED = ("listen", "webhookListen", "hydrateBranch")
CHART_REQUIRED = ["cluster", "repo"]


def config_section(source: dict[str, Any]) -> dict[str, Any]:
    inlined = inline_local_refs(source)
    properties = {k: v for k, v in inlined["properties"].items() if k not in CHART_OWNED}
    return {
        "type": "object",
        "description": inlined["description"],
        "additionalProperties": False,
        "properties": properties,
        "required": CHART_REQUIRED,
    }


def updated(values_schema: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    properties = dict(values_schema["properties"])
    properties["config"] = config_section(source)
    return {**values_schema, "properties": properties}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the copy is stale")
    args = parser.parse_args(argv)
    current = TARGET.read_text(encoding="utf-8")
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    wanted = render(updated(json.loads(current), source))
    if current == wanted:
        return 0
    if args.check:
        print(f"{TARGET} is stale: run python charts/configschema.py", file=sys.stderr)
        return 1
    TARGET.write_text(wanted, encoding="utf-8")
    print(f"{TARGET} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

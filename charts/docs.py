"""Keep each chart README's values table in step with its values.schema.json.

The schema is the one place a value is described: this script walks it (resolving
$refs into `definitions`), takes each leaf's description and type from it and the default
from the chart's values.yaml as Helm reads it, and rewrites the table between the
`<!-- values-table:start -->` and `<!-- values-table:end -->` markers of README.md.

    python charts/docs.py            # rewrite stale tables
    python charts/docs.py --check    # exit 1 when a table is stale (CI, tests)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python

CHARTS_DIR = Path(__file__).resolve().parent
START = "<!-- values-table:start -->"
END = "<!-- values-table:end -->"
_MISSING = object()


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    description: str


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Merge a $ref target under the referencing node (the node's own keys win)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    prefix = "#/definitions/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}")
    target = _resolve(schema["definitions"][ref.removeprefix(prefix)], schema)
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _type_of(node: dict[str, Any], schema: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(json.dumps(item) for item in node["enum"])
    if "type" in node:
        kind = node["type"]
        if kind == "array" and isinstance(node.get("items"), dict):
            item_type = _type_of(_resolve(node["items"], schema), schema)
            return f"list of {item_type}" if item_type != "object" else "list"
        return str(kind)
    if "anyOf" in node:
        return " or ".join(sorted({_type_of(option, schema) for option in node["anyOf"]}))
    return "any"


def _default_at(values: Any, path: Sequence[str]) -> Any:
    current = values
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _format_default(value: Any) -> str:
    if value is _MISSING:
        return ""
    text = json.dumps(value, separators=(", ", ": "), sort_keys=False)
    return "`" + text.replace("|", "\\|") + "`"


def _rows(
    node: dict[str, Any], schema: dict[str, Any], values: Any, path: tuple[str, ...]
) -> Iterator[Row]:
    node = _resolve(node, schema)
    properties = node.get("properties")
    # The root, and every object whose keys the chart defines, is documented key by key;
    # free-form objects (Kubernetes types passed through) are one row.
    owned = node.get("type") == "object" and node.get("additionalProperties") is False
    if isinstance(properties, dict) and (owned or path == ()):
        for name, child in properties.items():
            yield from _rows(child, schema, values, (*path, name))
        return
    description = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
    yield Row(
        key=".".join(path),
        type=_type_of(node, schema),
        default=_format_default(_default_at(values, path)),
        description=description,
    )


def values_rows(chart_dir: Path) -> list[Row]:
    with helm_python.Chart.load(chart_dir) as chart:
        schema = chart.schema
        defaults = chart.values
    if schema is None:
        raise ValueError(f"{chart_dir} has no values.schema.json")
    return list(_rows(schema, schema, defaults, ()))


def values_table(chart_dir: Path) -> str:
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    lines += [
        f"| `{row.key}` | {row.type} | {row.default} | {row.description} |"
        for row in values_rows(chart_dir)
    ]
    return "\n".join(lines)


def updated_readme(chart_dir: Path) -> str:
    readme = (chart_dir / "README.md").read_text(encoding="utf-8")
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{chart_dir / 'README.md'} lacks the {START} ... {END} markers")
    return f"{head}{START}\n{values_table(chart_dir)}\n{END}{tail}"


def chart_dirs(root: Path = CHARTS_DIR) -> list[Path]:
    return sorted(path.parent for path in root.glob("*/Chart.yaml"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a table is stale")
    parser.add_argument("charts", nargs="*", type=Path, help="chart directories (default: all)")
    args = parser.parse_args(argv)
    stale: list[Path] = []
    for chart_dir in args.charts or chart_dirs():
        readme = chart_dir / "README.md"
        wanted = updated_readme(chart_dir)
        if readme.read_text(encoding="utf-8") == wanted:
            continue
        stale.append(readme)
        if not args.check:
            readme.write_text(wanted, encoding="utf-8")
    for readme in stale:
        verb = "is stale" if args.check else "updated"
        print(f"{readme} {verb}", file=sys.stderr if args.check else sys.stdout)
    if stale and args.check:
        print("run: python charts/docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

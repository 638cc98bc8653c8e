"""Per-pool GPU usage and per-Workspace assignments, as the status page shows them."""

from __future__ import annotations

from controller.core.capacity import Assignment, PoolUsage, assignments, cluster_usage, pool_usage
from controller.core.placement import Placement
from controller.core.specs import NodePool
from tests.core.conftest import Validate


def workspace(name: str, preset: str, *, extra: str = "", annotations: str = "") -> str:
    notes = f"  annotations: {{{annotations}}}\n" if annotations else ""
    return (
        f"apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: {name}\n{notes}"
        f"resource: {{{extra}}}\ninference:\n  preset: {{name: {preset}}}\n"
    )


def pool(name: str, *, per_node: int, nodes: int | None, max_nodes: int | None = None) -> NodePool:
    return NodePool(name, "L4", per_node, nodes, max_nodes, None, {}, ())


def placed(on: NodePool, replicas: int, per_replica: int) -> Placement:
    return Placement(on, "L4", 24.0, replicas, per_replica)


def test_used_gpus_are_replicas_times_gpus_summed_per_pool() -> None:
    small, big = pool("small", per_node=1, nodes=4), pool("big", per_node=8, nodes=2)
    usage = pool_usage([small, big], [placed(small, 3, 1), placed(big, 2, 4), placed(big, 1, 2)])
    assert usage == (PoolUsage("small", "L4", 3, 4), PoolUsage("big", "L4", 10, 16))


def test_every_pool_is_listed_in_order_even_when_empty_and_autoscaled_ones_count_max_nodes() -> (
    None
):
    fixed, scaled = pool("fixed", per_node=1, nodes=2), pool("auto", per_node=4, nodes=None)
    scaled_max = pool("auto-max", per_node=4, nodes=None, max_nodes=3)
    assert pool_usage([scaled_max, fixed, scaled], []) == (
        PoolUsage("auto-max", "L4", 0, 12),
        PoolUsage("fixed", "L4", 0, 2),
        PoolUsage("auto", "L4", 0, 0),
    )


def test_a_placement_on_a_pool_gone_from_the_cluster_file_is_not_counted() -> None:
    kept, gone = pool("kept", per_node=1, nodes=1), pool("gone", per_node=1, nodes=1)
    assert pool_usage([kept], [placed(gone, 1, 1)]) == (PoolUsage("kept", "L4", 0, 1),)


def test_overcommitted_pools_report_more_used_than_total() -> None:
    tiny = pool("tiny", per_node=1, nodes=1)
    assert pool_usage([tiny], [placed(tiny, 1, 1), placed(tiny, 1, 1)])[0].used == 2


def test_a_validated_cluster_counts_only_the_workspaces_that_become_releases(
    validate: Validate,
) -> None:
    report = validate(
        {
            "clusters/test/phi.yaml": workspace(
                "phi",
                "phi-3.5-mini-instruct",
                extra="count: 2",
                annotations="modelsync.dev/pool: a10",
            ),
            "clusters/test/paused.yaml": workspace(
                "paused",
                "phi-3.5-mini-instruct",
                annotations="modelsync.dev/pool: a100, modelsync.dev/suspend: 'true'",
            ),
            "clusters/test/typo.yaml": workspace("typo", "phi-3.5-mini-instrct"),
        }
    )
    cluster = report.cluster("test")
    assert cluster is not None
    used = {p.name: (p.used, p.total) for p in cluster_usage(cluster)}
    # a10 has one node: the second replica overflows it, so phi is invalid and not counted;
    # the suspended Workspace keeps its release, so its GPU stays taken.
    assert used == {"a100": (1, 2), "h100": (0, 8), "a10": (0, 1)}


def test_assignments_are_keyed_like_status_rows_and_invalid_ones_have_no_pool(
    validate: Validate,
) -> None:
    report = validate(
        {
            "clusters/test/phi.yaml": workspace(
                "phi", "phi-3.5-mini-instruct", annotations="modelsync.dev/pool: a100"
            ),
            "clusters/test/typo.yaml": workspace("typo", "phi-3.5-mini-instrct"),
            "clusters/test/big.yaml": workspace(
                "big",
                "phi-3.5-mini-instruct",
                extra="count: 3",
                annotations="modelsync.dev/pool: a10",
            ),
        }
    )
    cluster = report.cluster("test")
    assert cluster is not None
    assert assignments(cluster) == {
        ("default", "phi"): Assignment("phi-3.5-mini-instruct", "a100", 1),
        ("default", "typo"): Assignment(""),
        ("default", "big"): Assignment("phi-3.5-mini-instruct"),
    }


def test_a_cluster_file_that_did_not_validate_has_no_pools(validate: Validate) -> None:
    report = validate({"clusters/test/cluster.yaml": "kind: Cluster\n"})
    cluster = report.cluster("test")
    assert cluster is not None
    assert cluster.cluster is None
    assert cluster_usage(cluster) == ()

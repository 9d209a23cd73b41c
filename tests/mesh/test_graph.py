"""The domain graph: dependency order, cycles and shared ancestors."""

from __future__ import annotations

from dagmesh.config.project import load_project
from dagmesh.mesh.graph import MeshGraph, toposort
from tests.helpers import REPO


def test_toposort_puts_dependencies_first_and_keeps_input_order_for_ties() -> None:
    order, cycles = toposort(["c", "a", "b"], {"c": ["a"], "b": []})
    assert order == ["a", "c", "b"]
    assert cycles == []


def test_toposort_reports_each_cycle_as_a_closed_path_and_orders_the_rest() -> None:
    order, cycles = toposort(["a", "b", "c", "d"], {"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    assert cycles == [["a", "b", "c", "a"]]
    assert order == ["d"]


def test_the_example_runs_layer_by_layer_and_knows_its_diamond() -> None:
    project = load_project(REPO)
    graph = MeshGraph(project.domains, ("mastered", "integrated", "self_service"))
    order = graph.order()
    assert order.index("physician") < order.index("physician_dw") < order.index("launch_analytics")
    assert order.index("payer") < order.index("payer_dw") < order.index("launch_analytics")
    assert graph.shared_ancestors("launch_analytics") == {
        "physician": ["physician_dw", "payer_dw"],
        "product": ["physician_dw", "payer_dw"],
    }
    assert graph.shared_ancestors("physician_dw") == {}
    assert graph.descendants("physician") == {"physician_dw", "payer_dw", "launch_analytics"}


def test_a_cron_consumer_of_a_cron_upstream_waits_with_a_sensor_by_default() -> None:
    project = load_project(REPO)
    graph = MeshGraph(project.domains)
    via = {(e.consumer, str(e.consume.port)): e.via for e in graph.edges}
    assert via[("payer_dw", "physician.physician")] == "sensor"  # both cron, nothing said
    assert via[("payer_dw", "payer.payer_plan")] == "sensor"  # said explicitly
    assert via[("physician_dw", "physician.physician")] == "asset"  # on_upstream consumer

"""The values of atomr.cluster_metrics: NodeMetrics, ClusterMetrics, Ewma,
MetricsSelector, WeightedRoutees, AdaptiveLoadBalancer, apply_pdu, and the
/proc collector."""

from __future__ import annotations

import math

import pytest

import atomr
from atomr.cluster_metrics import (
    AdaptiveLoadBalancer,
    AdaptiveLoadBalancingLogic,
    ClusterMetrics,
    Ewma,
    MetricsSelector,
    NodeMetrics,
    ProcCollector,
    WeightedRoutees,
    apply_pdu,
    read_cpu_times,
    read_memory,
)


def test_the_package_is_a_lazy_attribute_of_atomr():
    assert atomr.cluster_metrics.NodeMetrics is NodeMetrics
    assert "cluster_metrics" in dir(atomr)


def test_node_metrics_fields_are_positional_in_order_and_read_only():
    m = NodeMetrics("akka://a", 7, 0.25, 300, 1200)
    assert (m.address, m.timestamp, m.cpu_load, m.memory_used, m.memory_max) == \
        ("akka://a", 7, 0.25, 300, 1200)
    assert m.memory_usage() == 0.25
    with pytest.raises(AttributeError):
        m.cpu_load = 0.5  # type: ignore[misc]
    d = NodeMetrics("akka://b")
    assert (d.timestamp, d.cpu_load, d.memory_used, d.memory_max) == (0, 0.0, 0, 0)
    assert d.memory_usage() == 0.0  # max 0: no division
    assert NodeMetrics.from_wire(m.to_wire()) == m


@pytest.mark.parametrize("args, exc", [
    (("",), ValueError), ((1,), TypeError), (("a", -1), ValueError),
    (("a", 0, -0.1), ValueError), (("a", 0, math.nan), ValueError),
    (("a", 0, 0.0, -5), ValueError), (("a", 0, 0.0, 0, 1.5), TypeError),
])
def test_node_metrics_rejects_bad_fields(args, exc):
    with pytest.raises(exc):
        NodeMetrics(*args)


def test_node_metrics_from_wire_rejects_garbage():
    for bad in (None, [], ["a", 0, 0.0, 0], ["a", "x", 0.0, 0, 0]):
        with pytest.raises(ValueError):
            NodeMetrics.from_wire(bad)


def test_cluster_metrics_publish_replaces_by_address():
    cm = ClusterMetrics()
    assert cm.node_count() == 0 and cm.snapshot() == [] and cm.get("akka://a") is None
    cm.publish(NodeMetrics("akka://b", 1, 0.5))
    cm.publish(NodeMetrics("akka://a", 1, 0.1))
    cm.publish(NodeMetrics("akka://b", 2, 0.9))
    assert cm.node_count() == 2
    assert cm.get("akka://b").cpu_load == 0.9
    assert [m.address for m in cm.snapshot()] == ["akka://a", "akka://b"]
    cm.remove("akka://a")
    assert cm.node_count() == 1
    with pytest.raises(TypeError):
        cm.publish("akka://a")  # type: ignore[arg-type]


def test_ewma_update_and_half_life():
    e = Ewma(10.0, 0.5)
    assert e.update(20.0) == 15.0 and e.value == 15.0 and e.alpha == 0.5
    assert e.update(15.0) == 15.0
    one = Ewma(3.0, 1.0)
    assert one.update(8.0) == 8.0  # alpha 1: the latest sample
    h = Ewma.from_half_life(0.0, 1.0)
    assert h.alpha == pytest.approx(0.5)
    h4 = Ewma.from_half_life(100.0, 4)
    assert h4.alpha == pytest.approx(1 - 2 ** (-1 / 4))
    # After half_life samples of 0, the weight of the initial value halved.
    for _ in range(4):
        h4.update(0.0)
    assert h4.value == pytest.approx(50.0)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.0001, 2, math.inf])
def test_ewma_alpha_outside_zero_one_is_a_value_error(alpha):
    with pytest.raises(ValueError):
        Ewma(0.0, alpha)


def test_ewma_half_life_must_be_positive():
    for bad in (0, -1.0):
        with pytest.raises(ValueError):
            Ewma.from_half_life(0.0, bad)


def test_metrics_selector_weights():
    m = NodeMetrics("akka://a", 0, 0.2, 600, 1000)
    assert MetricsSelector("cpu").weight(m) == pytest.approx(0.8)
    assert MetricsSelector("heap").weight(m) == pytest.approx(0.4)
    assert MetricsSelector("mix").weight(m) == pytest.approx(0.6)
    assert MetricsSelector("mix").name == "mix"
    # Clamped to [0, 1]: a load above 1, memory above its max.
    over = NodeMetrics("akka://a", 0, 1.7, 2000, 1000)
    assert MetricsSelector("cpu").weight(over) == 0.0
    assert MetricsSelector("heap").weight(over) == 0.0
    with pytest.raises(ValueError):
        MetricsSelector("load")


def _table(*samples: NodeMetrics) -> ClusterMetrics:
    cm = ClusterMetrics()
    for s in samples:
        cm.publish(s)
    return cm


def test_weighted_routees_pick_by_cumulative_weight():
    cm = _table(NodeMetrics("a", 0, 0.75), NodeMetrics("b", 0, 0.25))  # cpu weights .25, .75
    w = WeightedRoutees(cm, MetricsSelector("cpu"))
    assert w.weights(["a", "b", "x"]) == [0.25, 0.75, 0.5]  # unknown: 0.5
    assert w.pick(["a", "b"], 0.0) == "a"
    assert w.pick(["a", "b"], 0.25) == "a"  # cumulative 0.25 >= 0.25 * 1.0
    assert w.pick(["a", "b"], 0.26) == "b"
    assert w.pick(["a", "b"], 1.0) == "b"
    assert w.pick(["a", "b"], 7.0) == "b"  # seed clamped to 1
    assert w.pick(["a", "b"], -3.0) == "a"  # and to 0
    assert w.pick([], 0.5) is None
    # Unknown x weighs 0.5 (total 0.75): 0.6 * 0.75 = 0.45 <= 0.5 picks x,
    # 0.7 * 0.75 = 0.525 > 0.5 picks a.
    assert w.pick(["x", "a"], 0.6) == "x"
    assert w.pick(["x", "a"], 0.7) == "a"


def test_weighted_routees_all_zero_weights_pick_the_first():
    cm = _table(NodeMetrics("a", 0, 1.0), NodeMetrics("b", 0, 2.0))
    assert WeightedRoutees(cm, MetricsSelector("cpu")).pick(["b", "a"], 0.9) == "b"


def test_weighted_routees_spread_in_proportion_to_weight():
    cm = _table(NodeMetrics("a", 0, 0.9), NodeMetrics("b", 0, 0.1))
    w = WeightedRoutees(cm, MetricsSelector("cpu"))
    picks = [w.pick(["a", "b"], i / 1000) for i in range(1000)]
    assert picks.count("a") == pytest.approx(100, abs=2)
    assert picks.count("b") == pytest.approx(900, abs=2)


def test_adaptive_load_balancer_picks_the_lowest_cpu_load():
    cm = _table(NodeMetrics("b", 0, 0.3), NodeMetrics("a", 0, 0.3), NodeMetrics("c", 0, 0.6))
    lb = AdaptiveLoadBalancer(cm)
    assert lb.pick(["c", "b", "a"]) == "a"  # tie on 0.3: by name
    assert lb.pick(["c", "zz"]) == "c"  # unknown is +inf
    assert lb.pick(["zz", "yy"]) == "yy"  # all unknown: by name
    assert lb.pick([]) is None


def test_apply_pdu_push_and_push_batch():
    cm = ClusterMetrics()
    apply_pdu(cm, "push", [NodeMetrics("a", 1, 0.1)])
    apply_pdu(cm, "push_batch", [NodeMetrics("b", 1, 0.2), NodeMetrics("a", 2, 0.3)])
    apply_pdu(cm, "push_batch", [])
    assert cm.node_count() == 2 and cm.get("a").cpu_load == 0.3
    with pytest.raises(ValueError):
        apply_pdu(cm, "push", [])
    with pytest.raises(ValueError):
        apply_pdu(cm, "push", [NodeMetrics("a"), NodeMetrics("b")])
    with pytest.raises(ValueError):
        apply_pdu(cm, "pull", [NodeMetrics("a")])
    assert cm.get("a").cpu_load == 0.3  # nothing applied by a refused pdu


def test_proc_readers_and_collector_give_plausible_values(tmp_path):
    busy, total = read_cpu_times()
    assert 0 <= busy <= total
    used, mem_total = read_memory()
    assert 0 < used < mem_total
    collector = ProcCollector("akka://me", half_life_samples=2)
    first = collector.sample()
    assert first.address == "akka://me" and 0.0 <= first.cpu_load <= 1.0
    assert first.memory_max == mem_total and 0 < first.memory_used <= mem_total
    # Files read as given: a fake /proc shows the load of the interval, smoothed.
    stat = tmp_path / "stat"
    meminfo = tmp_path / "meminfo"
    stat.write_text("cpu  100 0 0 900 0 0 0 0 0 0\n")
    meminfo.write_text("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\n")
    fake = ProcCollector("akka://me", half_life_samples=1, stat_path=str(stat),
                         meminfo_path=str(meminfo))
    stat.write_text("cpu  200 0 0 900 0 0 0 0 0 0\n")  # the next 100 jiffies all busy
    s1 = fake.sample()
    assert s1.cpu_load == 1.0  # the first sample starts the average
    assert (s1.memory_used, s1.memory_max) == (600 * 1024, 1000 * 1024)
    stat.write_text("cpu  200 0 0 1000 0 0 0 0 0 0\n")  # then 100 idle
    assert fake.sample().cpu_load == pytest.approx(0.5)  # half-life 1: halfway
    assert read_cpu_times(str(tmp_path / "missing")) is None
    assert read_memory(str(tmp_path / "missing")) is None


def test_adaptive_logic_rejects_an_unknown_selector():
    with pytest.raises(ValueError):
        AdaptiveLoadBalancingLogic("disk")
    assert AdaptiveLoadBalancingLogic("cpu").selector.name == "cpu"


def test_the_docs_examples_run():
    import os
    import pathlib
    import re
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    for page in ("cluster-metrics.md", "cluster-routing.md"):
        block = re.search(r"```python\n(.*?)```", (root / "docs" / page).read_text(), re.S)
        assert block is not None
        result = subprocess.run([sys.executable, "-c", block.group(1)], cwd=root, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith("ok"), page

"""The profiler: its scenarios, report formats and command line."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys

import pytest

import atomr
from atomr import profiler
from atomr.profiler import (
    DEFAULT_MESSAGES,
    SCENARIOS,
    Measurement,
    ProfilerReport,
    best_dispatcher_for,
    cpu_time_ns,
    fmt_ns,
    fmt_opt_delta,
    fmt_rate,
    host_tag,
    peak_rss_bytes,
    percentile,
    rss_bytes,
    run,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_profiler_is_not_imported_by_import_atomr():
    out = subprocess.run([sys.executable, "-c",
                          "import sys, atomr; print('atomr.profiler' in sys.modules)"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "False"
    assert "profiler" not in atomr.__all__


def test_scenarios_and_their_default_counts():
    assert SCENARIOS == ("tell", "ask", "fanout", "cpu")
    assert DEFAULT_MESSAGES == {"tell": 20000, "ask": 2000, "fanout": 500, "cpu": 2000}


@pytest.mark.parametrize("values, p, expected", [
    ([], 50, None),
    ([7], 99, 7),
    ([1, 2, 3, 4], 50, 3),       # index round(1.5) = 2
    ([1, 2, 3, 4, 5, 6], 50, 3),  # index round(2.5) = 2: halves go to even
    ([1, 2, 3], 0, 1),
    ([1, 2, 3], 100, 3),
    ([1, 2, 3], 150, 3),         # clamped
    (list(range(100)), 95, 94),  # round(94.05)
])
def test_percentile_picks_the_rounded_index(values, p, expected):
    assert percentile(values, p) == expected


@pytest.mark.parametrize("ns, text", [
    (0, "0ns"), (999, "999ns"), (999.7, "999ns"), (1000, "1.00\u00b5s"), (2_500_000, "2.50ms"),
    (1_234_567_890, "1.23s"),
])
def test_fmt_ns(ns, text):
    assert fmt_ns(ns) == text


@pytest.mark.parametrize("rate, text", [
    (12, "12.00/s"), (3400, "3.40k/s"), (1_200_000, "1.20M/s"),
])
def test_fmt_rate(rate, text):
    assert fmt_rate(rate) == text


@pytest.mark.parametrize("delta, text", [
    (None, "n/a"), (0, "+0B"), (512, "+512B"), (-2048, "-2.00KiB"), (3 << 20, "+3.00MiB"),
    (-(5 << 30), "-5.00GiB"),
])
def test_fmt_opt_delta(delta, text):
    assert fmt_opt_delta(delta) == text


def test_a_measurement_computes_its_throughput_and_drops_missing_fields():
    m = Measurement("python", "tell", "python-pinned", 1000, 2_000_000, cpu_delta_ns=-5)
    assert m.throughput_msgs_per_sec == 500_000.0
    assert m.cpu_delta_ns == 0
    assert m.to_dict() == {"runtime": "python", "scenario": "tell", "config": "python-pinned",
                           "messages": 1000, "elapsed_ns": 2_000_000,
                           "throughput_msgs_per_sec": 500_000.0, "cpu_delta_ns": 0}
    assert Measurement("python", "tell", "x", 5, 0).throughput_msgs_per_sec == 0.0


def test_best_dispatcher_for_each_scenario():
    for scenario in ("tell", "ask", "fanout"):
        assert best_dispatcher_for(scenario) == ("python-pinned", "latency", 1, None)
    # This build has neither free threading nor subinterpreter pools.
    assert best_dispatcher_for("cpu") == ("python-pinned", "fallback-cpu", 1, None)
    with pytest.raises(ValueError):
        best_dispatcher_for("io")


def test_best_dispatcher_for_cpu_uses_a_pool_where_one_is_supported(monkeypatch):
    cpus = os.cpu_count() or 1
    monkeypatch.setattr(atomr, "subinterpreters_supported", lambda: True, raising=False)
    dispatcher, role, count, quota = best_dispatcher_for("cpu")
    assert (dispatcher, role, count) == ("python-subinterpreter-pool", "subi-cpu",
                                         min(8, max(2, cpus)))
    assert quota == {"max_actors": 64, "max_handler_ms": 1000}
    monkeypatch.setattr(atomr, "nogil_supported", lambda: True, raising=False)
    assert best_dispatcher_for("cpu")[:3] == ("python-nogil", "nogil-cpu", max(2, cpus))


def test_process_probes():
    assert host_tag() == (f"{platform.system().lower()}/{platform.machine()} "
                          f"cpus={os.cpu_count()} py={platform.python_version()}")
    before = cpu_time_ns()
    sum(i * i for i in range(200_000))
    assert cpu_time_ns() >= before
    if pathlib.Path("/proc/self/status").exists():
        rss, peak = rss_bytes(), peak_rss_bytes()
        assert rss is not None and peak is not None and 0 < rss <= peak


def test_run_measures_every_scenario_on_one_system():
    report = run(messages=50, system_name="prof-test")
    assert [m.scenario for m in report.measurements] == list(SCENARIOS)
    assert report.runtime == "python" and report.version == atomr.__version__
    for m in report.measurements:
        assert m.messages == 50 and m.elapsed_ns > 0 and m.throughput_msgs_per_sec > 0
        assert m.config == "python-pinned"
        assert m.cpu_delta_ns is not None and m.cpu_delta_ns >= 0
    ask = report.measurements[1]
    assert ask.p50_ns is not None and ask.p50_ns <= ask.p95_ns <= ask.p99_ns
    assert all(m.p50_ns is None for m in report.measurements if m.scenario != "ask")
    assert not [s for s in atomr.ActorSystem.live_systems() if s.name == "prof-test"]


def test_run_refuses_unknown_scenarios_and_bad_counts():
    with pytest.raises(ValueError, match="unknown scenario"):
        run(["tell", "gpu"])
    with pytest.raises(ValueError):
        run(["tell"], messages=0)
    with pytest.raises(TypeError):
        run(["tell"], messages="10")  # type: ignore[arg-type]


def test_the_json_report_has_the_documented_schema():
    report = run(["ask"], messages=20)
    data = json.loads(report.to_json())
    assert set(data) == {"runtime", "version", "host", "measurements"}
    assert data["runtime"] == "python" and data["host"] == host_tag()
    (m,) = data["measurements"]
    assert {"runtime", "scenario", "config", "messages", "elapsed_ns",
            "throughput_msgs_per_sec", "p50_ns", "p95_ns", "p99_ns"} <= set(m)
    assert report.to_json().startswith('{\n  "runtime": "python"')


def test_the_markdown_report_is_a_title_host_line_and_ten_column_table():
    report = ProfilerReport("python", "9.9", "linux/x86_64 cpus=2 py=3.11", [
        Measurement("python", "tell", "python-pinned", 10, 1_500_000, cpu_delta_ns=2_000),
        Measurement("python", "ask", "python-pinned", 10, 3_000, p50_ns=100, p95_ns=200,
                    p99_ns=300, rss_delta_bytes=4096)])
    lines = report.to_markdown().splitlines()
    assert lines[0] == "# atomr profiler \u2014 python (9.9)"
    assert lines[1] == "" and lines[2] == "host: `linux/x86_64 cpus=2 py=3.11`" and lines[3] == ""
    assert lines[4] == ("| scenario | config | msgs | elapsed | throughput | p50 | p95 | p99 "
                        "| \u0394RSS | CPU |")
    assert lines[5] == "|---|---|---|---|---|---|---|---|---|---|"
    assert lines[6] == ("| tell | python-pinned | 10 | 1.50ms | 6.67k/s | n/a | n/a | n/a "
                        "| n/a | 2.00\u00b5s |")
    assert lines[7] == ("| ask | python-pinned | 10 | 3.00\u00b5s | 3.33M/s | 100ns | 200ns "
                        "| 300ns | +4.00KiB | n/a |")


def test_the_command_line_writes_json_to_a_file(tmp_path):
    out = tmp_path / "cpu.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-m", "atomr.profiler", "--scenario", "cpu", "--messages", "20",
         "--format", "json", "-o", str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    text = out.read_text()
    assert text.endswith("}\n")
    (m,) = json.loads(text)["measurements"]
    assert (m["scenario"], m["messages"]) == ("cpu", 20)


def test_main_prints_markdown_by_default(capsys):
    assert profiler.main(["--scenario", "tell", "-n", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# atomr profiler \u2014 python (") and out.endswith("|\n")
    assert "| tell | python-pinned | 10 |" in out
    with pytest.raises(SystemExit):
        profiler.main(["--scenario", "gpu"])
    with pytest.raises(SystemExit):
        profiler.main(["-n", "0"])

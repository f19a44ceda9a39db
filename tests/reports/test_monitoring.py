"""The Grafana dashboard and the Prometheus alert rules (docs/monitoring/) against the textfile
plinth writes (validators/reports/prometheus.py): every metric, label and label value they name
exists in a rendered file; promtool accepts the rules and the file and its rule unit tests fire
the right alerts; a real node_exporter textfile collector serves the file to a real Prometheus,
which answers every dashboard query and evaluates every rule without error."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reports.fleet_sample import fleet_with_failures
from tests.support import prometheus as prom
from validators.reports import prometheus

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "monitoring" / "plinth-dashboard.json"
RULES = ROOT / "docs" / "monitoring" / "plinth-rules.yml"
SCRAPE_LABELS = {"job", "instance"}  # what Prometheus adds to every scraped series

METRIC = re.compile(r"\b(plinth_[a-z_]+)\b")
SELECTOR = re.compile(r"\b(plinth_[a-z_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")


def textfile_series(text: str) -> dict[str, list[dict[str, str]]]:
    """metric name -> the label sets of its samples, from exposition text."""
    out: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        labels = {k: v for k, _op, v in MATCHER.findall(rest.rpartition("}")[0])} if rest else {}
        out.setdefault(name.split()[0], []).append(labels)
    return out


def dashboard_queries(dash: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(expr, target, panel) of every panel target."""
    return [(t["expr"], t, p) for p in dash["panels"] for t in p.get("targets", [])]


def rule_list() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def concrete(expr: str) -> str:
    """A dashboard expression as Grafana sends it with "All" nodes selected."""
    return expr.replace("$node", ".*")


@pytest.fixture(scope="module")
def textfile() -> str:
    return prometheus.render(fleet_with_failures(), now=1_700_000_000.0)


def test_every_metric_label_and_value_referenced_exists_in_a_rendered_textfile(textfile: str) -> None:
    series = textfile_series(textfile)
    dash = json.loads(DASHBOARD.read_text())
    exprs = [(e, t.get("legendFormat", ""), p) for e, t, p in dashboard_queries(dash)]
    exprs += [(r["expr"], " ".join(str(v) for v in r.get("annotations", {}).values()), r) for r in rule_list()]
    node_var = next(v for v in dash["templating"]["list"] if v["name"] == "node")
    exprs.append((node_var["definition"], "", node_var))
    assert len(exprs) >= 15
    for expr, text, where in exprs:
        names = set(METRIC.findall(expr))
        assert names, expr
        assert names <= set(series), f"{where.get('title') or where.get('alert')}: {names - set(series)} not in the textfile"
        labels = {k for n in names for s in series[n] for k in s} | SCRAPE_LABELS
        for name, body in SELECTOR.findall(expr):
            for label, op, value in MATCHER.findall(concrete(body)):
                values = {s[label] for s in series[name] if label in s}
                assert values, f"{expr}: {name} has no label {label!r}"
                if op == "=":
                    assert value in values, f"{expr}: no {name}{{{label}={value!r}}} in the textfile"
                elif op == "=~" and re.fullmatch(r"[\w.-]+(\|[\w.-]+)*", value):  # a list of literals: each must exist
                    assert set(value.split("|")) <= values, f"{expr}: {label}=~{value!r}: {set(value.split('|')) - values} never written"
                elif op == "=~":
                    assert any(re.fullmatch(value, v) for v in values), f"{expr}: {label}=~{value!r} matches nothing"
        for group in GROUPING.findall(expr):
            assert {g.strip() for g in group.split(",") if g.strip()} <= labels, expr
        for label in LEGEND.findall(text) + TEMPLATE_LABEL.findall(text):
            assert label in labels, f"{expr}: {{{{{label}}}}} is not a label of {names}"
        if "label_values(" in expr:
            metric, label = re.findall(r"label_values\((\w+),\s*(\w+)\)", expr)[0]
            assert label in {k for s in series[metric] for k in s}
    # the matrix transformation reads three labels of plinth_check_status
    matrix = next(t for p in dash["panels"] for t in p.get("transformations", []) if t["id"] == "groupingToMatrix")
    opts = matrix["options"]
    assert {opts["rowField"], opts["columnField"], opts["valueField"]} <= set(series["plinth_check_status"][0])


def test_the_textfile_has_one_sample_per_series_even_when_a_fleet_check_names_several_nodes(textfile: str) -> None:
    keys = [line.rpartition(" ")[0] for line in textfile.splitlines() if line and not line.startswith("#")]
    assert len(keys) == len(set(keys))
    # two storage.disk_outlier warnings become one warn series for the check (the worst result)
    lines = [ln for ln in textfile.splitlines() if 'check="storage.disk_outlier"' in ln and ln.startswith("plinth_check_status")]
    assert len(lines) == 5 and 'status="warn"} 1' in "".join(lines)
    assert 'plinth_checks{status="warn"} 8' in textfile  # the counts still count every result (6 nodes + 2 fleet)


def _promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.usefixtures("prometheus_tools")
def test_promtool_accepts_the_rules_and_the_textfile(textfile: str) -> None:
    rules = _promtool("check", "rules", str(RULES))
    assert rules.returncode == 0 and f"SUCCESS: {len(rule_list())} rules found" in rules.stdout, rules.stdout + rules.stderr
    metrics = _promtool("check", "metrics", stdin=textfile)
    assert metrics.returncode == 0 and not metrics.stdout.strip() and not metrics.stderr.strip(), metrics.stdout + metrics.stderr


def _unit_tests(textfile: str) -> dict[str, Any]:
    """promtool's rule unit tests over the rendered file's own series, held for 7 hours, plus one
    node whose bandwidth halves after an hour; the run's timestamp is 0 (the test clock's start)."""
    series = []
    for line in textfile.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key.startswith("plinth_last_run_timestamp_seconds"):
            value = "0"
        if key == 'plinth_check_measured{node="gpu-0",check="network.bandwidth",unit="Gbps"}':
            series.append({"series": key, "values": "96x60 48x360"})
            continue
        series.append({"series": key, "values": f"{value}x420"})
    failing = [(n.name, c) for n in fleet_with_failures().nodes for c in n.checks if c.status == "fail"]
    failing += [("fleet", c) for c in fleet_with_failures().fleet if c.status == "fail"]
    failed_alerts = [{"exp_labels": {"severity": "critical", "node": node, "check": c.id, "pillar": c.pillar, "status": "fail"},
                      "exp_annotations": {
                          "summary": f"plinth: {c.id} failed on {node}",
                          "description": f"{c.id} ({c.pillar}) failed on {node} in the last plinth run. The run's report "
                                         "(JSON, HTML) has the measured value, the threshold and what to do."}}
                     for node, c in failing]
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m", "input_series": series, "alert_rule_test": [
                {"eval_time": "10m", "alertname": "PlinthCheckFailed", "exp_alerts": failed_alerts},
                # gpu-5's checks all errored because it was unreachable: its own alert, not nine of these
                {"eval_time": "10m", "alertname": "PlinthCheckErrored", "exp_alerts": []},
                {"eval_time": "10m", "alertname": "PlinthNodeUnreachable", "exp_alerts": [{
                    "exp_labels": {"severity": "critical", "node": "gpu-5"},
                    "exp_annotations": {"summary": "plinth could not reach gpu-5", "description": (
                        "None of gpu-5's checks ran in the last plinth run (SSH address, key, host key or jump host).")}}]},
                {"eval_time": "10m", "alertname": "PlinthReadinessDegraded", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "profile": "distributed_training"},
                    "exp_annotations": {"summary": "plinth readiness 70/100 for distributed_training: modernisation needed"}}]},
                {"eval_time": "10m", "alertname": "PlinthReadinessUrgent", "exp_alerts": []},
                {"eval_time": "50m", "alertname": "PlinthBandwidthRegressed", "exp_alerts": []},
                {"eval_time": "90m", "alertname": "PlinthBandwidthRegressed", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "node": "gpu-0", "check": "network.bandwidth", "unit": "Gbps"},
                    "exp_annotations": {"summary": "plinth: gpu-0 bandwidth 48 Gbps, 20% below its 7-day best"}}]},
                {"eval_time": "5h", "alertname": "PlinthReportStale", "exp_alerts": []},
                {"eval_time": "6h30m", "alertname": "PlinthReportStale", "exp_alerts": [{
                    "exp_labels": {"severity": "warning"}, "exp_annotations": {"summary": "plinth has not reported for 6h 30m 0s"}}]},
            ]},
            {"interval": "1m", "input_series": [], "alert_rule_test": [
                {"eval_time": "45m", "alertname": "PlinthReportMissing", "exp_alerts": [{
                    "exp_labels": {"severity": "warning"}, "exp_annotations": {"summary": "no plinth textfile is being scraped"}}]},
            ]},
        ],
    }


@pytest.mark.usefixtures("prometheus_tools")
def test_promtool_rule_unit_tests_fire_the_expected_alerts(textfile: str, tmp_path: Path) -> None:
    spec = tmp_path / "plinth-rules.test.yml"
    spec.write_text(yaml.safe_dump(_unit_tests(textfile), sort_keys=False, allow_unicode=True))
    result = _promtool("test", "rules", str(spec))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.usefixtures("prometheus_tools")
def test_a_real_prometheus_scrapes_the_textfile_and_answers_the_dashboard_and_the_rules(textfile: str, tmp_path: Path) -> None:
    collected = tmp_path / "textfile"
    collected.mkdir()
    (collected / "plinth.prom").write_text(textfile)  # what `--prometheus DIR/plinth.prom` leaves for the collector
    with prom.textfile_exporter(collected, tmp_path) as target, prom.prometheus_server(target, [RULES], tmp_path) as base:
        score = prom.wait_for(base, "plinth_readiness_score")
        assert len(score) == 1 and score[0]["metric"]["profile"] == "distributed_training"
        assert float(score[0]["value"][1]) == fleet_with_failures().summary.score
        assert prom.query(base, "node_textfile_scrape_error")[0]["value"][1] == "0"
        failing = prom.query(base, 'plinth_check_status{status="fail"} == 1')  # PlinthCheckFailed's expression
        assert sorted((s["metric"]["node"], s["metric"]["check"]) for s in failing) == sorted(
            [("gpu-1", "network.bandwidth"), ("gpu-1", "network.mtu"), ("gpu-2", "gpu.count"), ("gpu-2", "gpu.xid"),
             ("gpu-3<b>x</b>", "gpu.model"), ("fleet", "fabric.nccl_allreduce")])
        # the rules (evaluated every second) hold the alerts pending until their `for:` has passed
        assert prom.wait_for(base, 'count(ALERTS{alertname="PlinthCheckFailed", alertstate="pending"}) == 6')
        rules = [r for g in prom.api(base, "rules")["groups"] for r in g["rules"]]
        assert len(rules) == len(rule_list()) and all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
        pending = {r["name"]: len(r["alerts"]) for r in rules}
        assert pending["PlinthCheckFailed"] == 6 and pending["PlinthNodeUnreachable"] == 1
        assert pending["PlinthCheckErrored"] == 0 and pending["PlinthReadinessDegraded"] == 1 and pending["PlinthReadinessUrgent"] == 0
        # every dashboard query, as Grafana sends it with all nodes selected: valid, and with data
        for expr, _target, panel in dashboard_queries(json.loads(DASHBOARD.read_text())):
            assert prom.query(base, concrete(expr)), f"{panel['title']}: {expr} returned nothing"
        nodes = prom.api(base, "label/node/values", **{"match[]": "plinth_node_reachable"})
        assert sorted(nodes) == sorted(n.name for n in fleet_with_failures().nodes)
    log = (tmp_path / "node_exporter.log").read_text()
    assert "collected before" not in log and "error" not in log.lower(), log[-2000:]

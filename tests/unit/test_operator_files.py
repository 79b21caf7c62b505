"""The operator's files (deploy/prometheus, deploy/grafana; issue 15) against the code: the alert rules pass
`promtool check rules` and their own `promtool test rules`, and the dashboard and the rules name only metrics
that cbdialer exports, while every cbdialer metric it exports is on the dashboard or in a rule."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cbdialer.adapters.prometheus import PrometheusMetrics, Readings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "cbdialer-rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cbdialer.json"
PROMTOOL = os.environ.get("PROMTOOL", "/var/cache/cbdialer/promtool/usr/bin/promtool")
NAME = re.compile(r"\b(?:cbdialer|process)_[a-z0-9_]+\b")


def exported() -> tuple[set[str], set[str]]:
    """Every series name a scrape can carry, and the cbdialer families among them."""
    metrics = PrometheusMetrics(readings=Readings(ami_up=lambda: True))
    metrics.set_book([], [])
    families = {f.name for f in metrics.registry.collect() if f.name.startswith("cbdialer_")}
    return metrics.names(), families


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail(f"{PROMTOOL} is missing: the README's test command takes it out of Debian's prometheus package")
    return subprocess.run([PROMTOOL, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60)


def test_promtool_checks_the_rules_and_their_tests_pass() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rule_exprs())} rules found" in checked.stdout
    tested = promtool("test", "rules", "cbdialer-rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("where", ["dashboard", "rules"])
def test_the_files_name_only_exported_metrics(where: str) -> None:
    names, _ = exported()
    exprs = dashboard_exprs() if where == "dashboard" else rule_exprs()
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used and used <= names, sorted(used - names)


def test_every_cbdialer_metric_is_watched() -> None:
    _, families = exported()
    used = {name for expr in dashboard_exprs() + rule_exprs() for name in NAME.findall(expr)}
    unwatched = {f for f in families if not any(u == f or u.startswith(f + "_") for u in used)}
    assert unwatched == set()

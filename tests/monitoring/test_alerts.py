"""The alert rules the chart ships: valid for Prometheus, each firing when it should (promtool's
own unit tests, alerts.test.yaml), each with a runbook line, and naming only metrics the
service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from app.cli import apply_migrations as migrate
from app.main import create_app
from app.settings import Settings

HERE = Path(__file__).resolve().parent
RULES = HERE.parent.parent / "helm" / "data-service" / "files" / "alerts.yaml"
DASHBOARD = RULES.parent / "dashboard.json"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)")
    return found


def test_promtool_checks_the_rules() -> None:
    checked = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_on_its_series_and_not_before() -> None:
    tested = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yaml"], cwd=HERE, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_runbook_and_a_test() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    tested = {t["alertname"] for c in yaml.safe_load((HERE / "alerts.test.yaml").read_text())["tests"]
              for t in c["alert_rule_test"]}  # fmt: skip

    assert rules and all(r["annotations"].get("runbook") and r["labels"].get("severity") for r in rules)
    assert {r["alert"] for r in rules} == tested


def test_the_rules_and_the_dashboard_name_only_metrics_the_service_exports(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", log_level="warning")
    migrate(settings)
    with TestClient(create_app(settings)) as client:
        client.get("/data", params={"user_id": "alice"})
        exported = set(re.findall(r"^# TYPE (\S+) (\S+)", client.get("/metrics").text, re.M))
    names = {n for n, kind in exported} | {f"{n}_{s}" for n, kind in exported if kind == "histogram"
                                              for s in ("bucket", "sum", "count")}  # fmt: skip
    names |= {f"{n}_total" for n, kind in exported if kind == "counter"}
    queries = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    text = re.sub(
        r"by \([^)]*\)", "", RULES.read_text() + "\n".join(queries)
    )  # grouping labels are not metrics
    used = set(re.findall(r"\b([a-z_]+)[{[]", text)) | set(re.findall(r"\(([a-z_]+)\)", text))
    ours = {n for n in used if not n.startswith("kube_") and n not in ("rate", "sum", "max", "by")}

    assert ours and ours <= names, ours - names


def test_the_dashboards_queries_are_valid_promql(tmp_path: Path) -> None:
    """Every panel's query, with Grafana's variables set, passes promtool as a recording rule."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = [t["expr"] for p in panels for t in p["targets"]]
    as_rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:panel{n}",
                        "expr": q.replace("$__rate_interval", "5m").replace("$job", ".*"),
                    }
                    for n, q in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(as_rules))

    checked = subprocess.run(
        [promtool(), "check", "rules", str(tmp_path / "dashboard.yaml")], capture_output=True, text=True
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    titles = " ".join(p["title"] for p in panels).lower()
    for shown in (
        "request rate",
        "error ratio",
        "p50",
        "p99",
        "cache hit",
        "429",
        "pool",
        "breaker",
        "unique users",
    ):
        assert shown in titles

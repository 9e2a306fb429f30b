"""checkov (`--framework kubernetes --skip-download`) on the chart's rendered manifests: zero
failed checks. The checks skipped for every manifest are in .checkov.yaml with their reasons;
the ones skipped for one object are annotations in its template."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import CHART
from tests.deploy.test_chart import CASES

ROOT = CHART.parents[1]


def checkov() -> str:
    found = ROOT / ".venv-tools" / "bin" / "checkov"
    if found.exists():
        return str(found)
    on_path = shutil.which("checkov")
    if on_path:
        return on_path
    if os.environ.get("CI") == "true":
        pytest.fail("checkov is not installed: `make .venv-tools/bin/checkov` installs it")
    pytest.skip("checkov is not installed (make .venv-tools/bin/checkov)")


def _assigned_at_admission(check: dict[str, Any]) -> bool:
    """CKV_K8S_40 (a UID of 10000 or more) on the OpenShift case, which sets no UID because
    OpenShift assigns one from the namespace's range (1000000000 and up) when the pod is admitted,
    which checkov cannot see."""
    return check["check_id"] == "CKV_K8S_40" and check.get("file_path", "").endswith(
        "openshift-http-route.yaml"
    )


def test_checkov_finds_no_failed_check_in_any_rendered_case(chart: Any, tmp_path: Path) -> None:
    tool = checkov()
    for case, values in CASES.items():
        rendered = chart.render(values(), name="ds", namespace="data", is_install=True)
        manifests = [
            text for path, text in rendered.items() if not path.endswith("NOTES.txt") and text.strip()
        ]
        (tmp_path / f"{case}.yaml").write_text("\n---\n".join(manifests))

    scanned = subprocess.run(
        [tool, "--config-file", str(ROOT / ".checkov.yaml"), "-d", str(tmp_path), "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )

    report = json.loads(scanned.stdout)
    summary = (report[0] if isinstance(report, list) else report)["summary"]
    checks = [
        c
        for part in (report if isinstance(report, list) else [report])
        for c in part["results"]["failed_checks"]
    ]
    failed = [f"{c['check_id']} {c['resource']}" for c in checks if not _assigned_at_admission(c)]
    assert summary["passed"] > 500  # the manifests were read and checked
    assert failed == [], failed
    assert scanned.returncode == (1 if checks else 0), scanned.stderr[-2000:]  # 1: the admitted ones

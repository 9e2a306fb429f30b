"""The README's quickstart, run as it stands there, against a served process."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.processes import migrated_sqlite, running_server

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart() -> str:
    found = re.search(r"<!-- quickstart -->\n```bash\n(.*?)```", README.read_text(), re.DOTALL)
    assert found, "the README has no quickstart block"
    return found.group(1)


def test_the_quickstart_runs_as_pasted(tmp_path: Path) -> None:
    env = {"APP_DATABASE_URL": migrated_sqlite(tmp_path, "quick.db")}
    with running_server(env, tmp_path) as port:
        done = subprocess.run(
            ["bash", "-c", quickstart()],
            env={**os.environ, "BASE": f"http://127.0.0.1:{port}"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 5, done.stdout + done.stderr
    record, patched, listed = (json.loads(line) for line in lines[:3])
    assert record["version"] == 1 and record["payload"]["total"] == 12.5
    assert patched["version"] == 2 and patched["payload"]["status"] == "paid"
    assert [r["id"] for r in listed["items"]] == [record["id"]]
    assert lines[3:] == ["204", "404"]

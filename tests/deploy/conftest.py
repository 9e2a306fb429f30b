"""The chart's fixtures: Helm's engine (helm-python-sdk) and the chart loaded by it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHART = Path(__file__).resolve().parents[2] / "helm" / "data-service"


def tool(module: str, package: str) -> Any:
    """The tool's module; where it is missing the test skips, or fails under CI=true."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{package} is not installed: `make .venv/.dev-deps` installs it")
        pytest.skip(f"{package} is not installed (pip install {package})")


@pytest.fixture(scope="module")
def helm() -> Any:
    return tool("helm_python", "helm-python-sdk")


@pytest.fixture(scope="module")
def chart(helm: Any) -> Iterator[Any]:
    loaded = helm.Chart.load(CHART)
    yield loaded
    loaded.close()

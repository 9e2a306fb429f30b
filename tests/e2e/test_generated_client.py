"""A client generated from the served /openapi.json by a third party's generator
(openapi-python-client), as an API user makes theirs: it generates without a warning and
round-trips every record operation against the real server."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.processes import call, migrated_sqlite, required, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("generated")
    with running_server({"APP_DATABASE_URL": migrated_sqlite(folder, "g.db")}, folder) as served:
        yield served


@pytest.fixture(scope="module")
def generated(port: int, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The generator's output (what it printed) and the folder the client package is in."""
    folder = tmp_path_factory.mktemp("client")
    status, _, document = call(port, "GET", "/openapi.json")
    assert status == 200
    (folder / "openapi.json").write_bytes(document)
    (folder / "config.yaml").write_text("post_hooks: []\n")  # no formatter run over the output
    generator = required(
        shutil.which("openapi-python-client", path=str(Path(sys.executable).parent)),
        "openapi-python-client is a dev dependency: pip install -e '.[dev]'",
    )
    done = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(folder / "openapi.json"),
            "--config",
            str(folder / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(folder / "records_client"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr, folder


@pytest.fixture(scope="module")
def client_package(generated: tuple[str, Path]) -> Iterator[ModuleType]:
    _, folder = generated
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("records_client")
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == "records_client" or n.startswith("records_client.")]:
            del sys.modules[name]


def test_the_document_generates_a_client_without_a_warning(generated: tuple[str, Path]) -> None:
    said, _ = generated
    assert "Warning" not in said and "duplicate" not in said, said


def test_the_generated_client_round_trips_every_record_operation(
    client_package: ModuleType, port: int
) -> None:
    api = importlib.import_module("records_client.api.default")
    models = importlib.import_module("records_client.models")
    ops: dict[str, Any] = {
        name: importlib.import_module(f"records_client.api.default.{name}")
        for name in ("create_record", "get_record", "update_record", "list_records", "delete_record")
    }
    assert api is not None
    with client_package.Client(
        base_url=f"http://127.0.0.1:{port}", raise_on_unexpected_status=True
    ) as client:
        body = models.CreateRecord(
            user_id="generated-1",
            payload=models.CreateRecordPayload.from_dict({"type": "order", "total": 12.5}),
        )
        created = ops["create_record"].sync_detailed(client=client, body=body)
        assert created.status_code == 201
        record = created.parsed
        assert isinstance(record, models.Record) and record.version == 1

        read = ops["get_record"].sync(record.id, client=client)
        assert isinstance(read, models.Record) and read.payload.to_dict() == {"type": "order", "total": 12.5}

        patch = models.MergePatch.from_dict({"status": "paid", "total": None})
        changed = ops["update_record"].sync(record.id, client=client, body=patch, if_match='"1"')
        assert isinstance(changed, models.Record) and changed.version == 2
        assert changed.payload.to_dict() == {"type": "order", "status": "paid"}

        page = ops["list_records"].sync(client=client, user_id="generated-1")
        assert isinstance(page, models.RecordPage) and page.total == 1
        assert [item.id for item in page.items] == [record.id]

        deleted = ops["delete_record"].sync_detailed(record.id, client=client)
        assert deleted.status_code == 204

        missing = ops["get_record"].sync_detailed(record.id, client=client)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem) and missing.parsed.status == 404

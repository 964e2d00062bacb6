"""The download path, against a real HTTP server on 127.0.0.1 serving small files."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from fraudstream.datasets import load_dataset
from fraudstream.datasets.download import ULB_HEADER, copy_checked, download_ulb_openml
from fraudstream.errors import DownloadError
from fraudstream.testing.files import ulb_rows


def _arff(rows: list[list[str]]) -> bytes:
    lines = ["% ULB creditcard, small", "@RELATION creditcard", ""]
    for name in ULB_HEADER:
        kind = "{'0','1'}" if name == "Class" else "NUMERIC"
        lines.append(
            f"@ATTRIBUTE '{name}' {kind}" if name == "Class" else f"@ATTRIBUTE {name} {kind}"
        )
    lines += ["", "@DATA"]
    lines += [",".join([*r[:-1], f"'{r[-1]}'"]) for r in rows]
    return ("\n".join(lines) + "\n").encode()


class _Files(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: ClassVar[dict[str, bytes]] = {}
    handler = type("Handler", (_Files,), {"files": files})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()
    httpd.server_close()


def _publish(base: str, files: dict[str, bytes], arff: bytes, md5: str | None = None) -> None:
    files["/data/v1/download/42/creditcard.arff"] = arff
    description = {
        "id": "1597",
        "name": "creditcard",
        "format": "ARFF",
        "file_id": "42",
        "url": f"{base}/data/v1/download/42/creditcard.arff",
        "md5_checksum": md5 or hashlib.md5(arff, usedforsecurity=False).hexdigest(),
    }
    files["/api/v1/json/data/1597"] = json.dumps({"data_set_description": description}).encode()


def test_ulb_from_openml_is_verified_converted_and_loadable(
    server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, files = server
    rows = ulb_rows(40, seed=2)
    _publish(base, files, _arff(rows))
    path = download_ulb_openml(tmp_path, base_url=base, dataset_id=1597)
    assert path == tmp_path / "creditcard.csv"
    data = load_dataset(path)
    assert data.name == "ulb"
    assert len(data) == 40
    assert data.summary().frauds == sum(r[-1] == "1" for r in rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["creditcard.csv"]


def test_checksum_mismatch_fails_and_leaves_nothing(
    server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, files = server
    _publish(base, files, _arff(ulb_rows(5)), md5="0" * 32)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_ulb_openml(tmp_path, base_url=base, dataset_id=1597)
    assert list(tmp_path.iterdir()) == []


def test_missing_dataset_is_a_download_error(
    server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, _ = server
    with pytest.raises(DownloadError, match="cannot read the OpenML description"):
        download_ulb_openml(tmp_path, base_url=base, dataset_id=1597)


def test_unexpected_attributes_are_refused(
    server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, files = server
    _publish(base, files, b"@RELATION x\n@ATTRIBUTE a NUMERIC\n@DATA\n1\n")
    with pytest.raises(DownloadError, match="unexpected ULB attributes"):
        download_ulb_openml(tmp_path, base_url=base, dataset_id=1597)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_is_a_download_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError):
        download_ulb_openml(tmp_path, base_url="http://127.0.0.1:9", dataset_id=1, timeout_s=2)


def test_copy_checked_counts_rows(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("a,b\n1,2\n3,4")  # no newline after the last row
    target = copy_checked(source, tmp_path / "out" / "x.csv", expected_rows=2)
    assert target.read_text() == source.read_text()
    with pytest.raises(DownloadError, match="has 2 data rows, expected 3"):
        copy_checked(source, tmp_path / "out" / "y.csv", expected_rows=3)
    assert not (tmp_path / "out" / "y.csv").exists()

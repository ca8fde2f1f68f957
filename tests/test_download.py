"""The download path, against a localhost HTTP server serving archives in the official layout."""

from __future__ import annotations

import http.server
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from helpers import cache_name, make_tiny_datamodule

from bn2d_study.errors import DatasetUnavailableError

OFFICIAL_NAME = "devanagari+handwritten+character+dataset.zip"


class TruncatingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files, but `/broken.zip` announces more bytes than it sends (a dropped link)."""

    def do_GET(self) -> None:
        if self.path != "/broken.zip":
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"PK\x03\x04" + b"\0" * 1000)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def served(tmp_path: Path, tiny_archive: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving the tiny archive wrapped as the UCI download is."""
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / OFFICIAL_NAME, "w") as wrapper:
        wrapper.write(tiny_archive, "DevanagariHandwrittenCharacterDataset.zip")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(TruncatingHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_then_extract_the_wrapped_archive(served: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    dm = make_tiny_datamodule(None, data_dir, url=f"{served}/{OFFICIAL_NAME}")
    dm.prepare_data()
    dm.setup()
    assert len(dm.test_set) == 40
    assert (data_dir / OFFICIAL_NAME).is_file() and (data_dir / cache_name()).is_file()
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".download-")]


def test_interrupted_download_leaves_nothing(served: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    dm = make_tiny_datamodule(None, data_dir, url=f"{served}/broken.zip")
    with pytest.raises(
        DatasetUnavailableError, match=r"download from .*broken.zip is incomplete.*data\.archive"
    ):
        dm.prepare_data()
    assert [p.name for p in data_dir.iterdir()] == [cache_name() + ".lock"]

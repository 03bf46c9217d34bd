"""Downloads against a real HTTP server on 127.0.0.1: good, corrupt, truncated, missing, down, slow."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from glassnet.data.datasets import download_file, load_dataset
from glassnet.errors import DatasetNotFoundError, DownloadError
from glassnet.data.idx import idx_bytes, read_idx
from paths import SHARED_MNIST

NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"]  # fmt: skip


def _synthetic_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    arrays = {
        NAMES[0]: rng.integers(0, 256, size=(40, 6, 6), dtype=np.uint8),
        NAMES[1]: (np.arange(40) % 10).astype(np.uint8),
        NAMES[2]: rng.integers(0, 256, size=(20, 6, 6), dtype=np.uint8),
        NAMES[3]: (np.arange(20) % 10).astype(np.uint8),
    }
    return {name: gzip.compress(idx_bytes(array), mtime=0) for name, array in arrays.items()}


FILES = _synthetic_files()
MD5 = {name: hashlib.md5(data).hexdigest() for name, data in FILES.items()}


class Server:
    """A tiny HTTP server in a thread; ``routes`` maps a URL path to ``(status, body, how)``.

    how: "ok" sends the body; "cut" announces the full length but sends half
    and closes; "slow" waits 3 s before answering.
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                status, body, how = server.routes.get(self.path, (404, b"not found", "ok"))
                if how == "slow":
                    time.sleep(3)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body[: len(body) // 2] if how == "cut" else body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if how == "cut":
                    self.close_connection = True

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def serve(self, prefix: str, files: dict[str, bytes], how: str = "ok", status: int = 200) -> str:
        for name, body in files.items():
            self.routes[f"{prefix}/{name}"] = (status, body, how)
        return f"{self.url}{prefix}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    for name in ("GLASSNET_DATA", "GLASSNET_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "cache"


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there now: connection refused


def _cache_listing(cache: Path) -> list[str]:
    folder = cache / "kmnist"
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def test_download_verifies_then_second_load_uses_the_cache(server, cache):
    base = server.serve("/good", FILES)
    ds = load_dataset("kmnist", cache_dir=cache, mirrors=[base], checksums=MD5, progress=False)
    assert ds.X_train.shape == (40, 36) and ds.X_test.shape == (20, 36)
    np.testing.assert_array_equal(ds.X_train, read_idx(cache / "kmnist" / NAMES[0]).reshape(40, 36))
    assert ds.class_names[:3] == ["o", "ki", "su"]
    assert "downloaded from " + base in ds.source
    assert _cache_listing(cache) == sorted(NAMES)  # exactly the four files, no .part left
    assert sorted(server.requests) == sorted(f"/good/{name}" for name in NAMES)

    # Second load: the server is not asked again, even with a dead mirror given.
    again = load_dataset("kmnist", cache_dir=cache, mirrors=[_closed_port_url()], checksums=MD5)
    np.testing.assert_array_equal(again.X_test, ds.X_test)
    assert len(server.requests) == 4


def test_next_mirror_is_tried_after_a_404(server, cache):
    missing = f"{server.url}/missing/"
    good = server.serve("/good", FILES)
    ds = load_dataset("kmnist", cache_dir=cache, mirrors=[missing, good], checksums=MD5, progress=True)
    assert ds.y_train.shape == (40,)
    assert server.requests.count(f"/missing/{NAMES[0]}") == 1 and server.requests.count(f"/good/{NAMES[0]}") == 1


def test_mirror_from_the_environment(server, cache, monkeypatch):
    monkeypatch.setenv("GLASSNET_MIRROR", server.serve("/env/kmnist", FILES).replace("/kmnist/", "/{name}/"))
    ds = load_dataset("kmnist", cache_dir=cache, checksums=MD5, progress=False)
    assert ds.X_train.shape == (40, 36)
    assert f"/env/kmnist/{NAMES[3]}" in server.requests


def test_checksum_mismatch_leaves_nothing_in_the_cache(server, cache):
    corrupt = dict(FILES)
    corrupt[NAMES[0]] = gzip.compress(idx_bytes(np.zeros((40, 6, 6), dtype=np.uint8)), mtime=0)  # valid IDX, wrong data
    base = server.serve("/corrupt", corrupt)
    with pytest.raises(DownloadError) as caught:
        load_dataset("kmnist", cache_dir=cache, mirrors=[base], checksums=MD5, progress=False)
    message = str(caught.value)
    assert f"could not download {NAMES[0]}; every mirror failed" in message
    assert f"{base}{NAMES[0]}: the downloaded file: checksum mismatch" in message
    assert MD5[NAMES[0]] in message  # what was expected
    assert ".part" not in message  # the temporary name is not shown
    assert NAMES[0] not in _cache_listing(cache)
    assert not any(name.endswith(".part") for name in _cache_listing(cache))


def test_truncated_transfer_is_refused(server, cache):
    base = server.serve("/cut", FILES, how="cut")
    with pytest.raises(DownloadError, match=r"incomplete download: got \d+ of \d+ bytes|connection closed early"):
        load_dataset("kmnist", cache_dir=cache, mirrors=[base], checksums=MD5, progress=False)
    assert _cache_listing(cache) == []


def test_truncated_file_without_a_known_checksum_fails_the_idx_check(server, cache):
    short = {name: data[: len(data) - 20] for name, data in FILES.items()}  # served whole, but cut gzip files
    base = server.serve("/short", short)
    no_checksums = {name: [] for name in NAMES}  # structure check only
    with pytest.raises(DownloadError, match="corrupt gzip stream"):
        load_dataset("kmnist", cache_dir=cache, mirrors=[base], checksums=no_checksums, progress=False)
    assert _cache_listing(cache) == []


def test_server_down_means_dataset_not_found_with_the_reason(cache):
    dead = _closed_port_url()
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("kmnist", cache_dir=cache, mirrors=[dead], checksums=MD5, progress=False)
    message = str(caught.value)
    assert "no mirror could be reached (offline?)" in message
    assert f"{dead}{NAMES[0]}: cannot connect" in message and "refused" in message.lower()
    assert f"{cache / 'kmnist'} (user cache)" in message
    assert _cache_listing(cache) == []


def test_slow_server_times_out(server, cache):
    base = server.serve("/slow", FILES, how="slow")
    with pytest.raises(DatasetNotFoundError, match="timed out"):
        load_dataset("kmnist", cache_dir=cache, mirrors=[base], checksums=MD5, progress=False, timeout=0.3)
    assert _cache_listing(cache) == []


def test_corrupt_cached_file_is_downloaded_again(server, cache):
    base = server.serve("/good", FILES)
    (cache / "kmnist").mkdir(parents=True)
    for name, data in FILES.items():
        (cache / "kmnist" / name).write_bytes(data)
    (cache / "kmnist" / NAMES[2]).write_bytes(FILES[NAMES[2]][:-10])  # damaged
    ds = load_dataset("kmnist", cache_dir=cache, mirrors=[base], checksums=MD5, progress=False)
    assert ds.X_test.shape == (20, 36)
    assert server.requests == [f"/good/{NAMES[2]}"]  # only the bad file was fetched
    assert hashlib.md5((cache / "kmnist" / NAMES[2]).read_bytes()).hexdigest() == MD5[NAMES[2]]


def test_download_false_never_touches_the_network(server, cache):
    base = server.serve("/good", FILES)
    with pytest.raises(DatasetNotFoundError, match="downloading is off"):
        load_dataset("kmnist", cache_dir=cache, mirrors=[base], checksums=MD5, download=False)
    assert server.requests == []


def test_download_file_lists_every_mirror(server, tmp_path):
    bad = server.serve("/bad", {NAMES[1]: b"not idx at all"})
    with pytest.raises(DownloadError) as caught:
        download_file([f"{server.url}/nope/{NAMES[1]}", f"{bad}{NAMES[1]}"], tmp_path / NAMES[1], progress=False)
    attempts = caught.value.attempts
    assert [url for url, _ in attempts] == [f"{server.url}/nope/{NAMES[1]}", f"{bad}{NAMES[1]}"]
    assert "HTTP 404" in str(caught.value)
    assert "not an IDX file" in str(caught.value) or "magic number" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_real_mnist_test_files_served_locally_pass_their_real_checksums(server, cache):
    shared = next((f for f in SHARED_MNIST if (f / NAMES[2]).is_file() and (f / NAMES[3]).is_file()), None)
    if shared is None:
        pytest.skip("the MNIST test files of shared/data/mnist are not on this machine")
    real = {name: (shared / name).read_bytes() for name in NAMES[2:]}
    train = {
        NAMES[0]: gzip.compress(idx_bytes(np.full((10, 28, 28), 7, dtype=np.uint8)), mtime=0),
        NAMES[1]: gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8)), mtime=0),
    }
    base = server.serve("/mnist", {**real, **train})
    # Only the synthetic train files get an override; the real t10k files are
    # checked against the md5s glassnet knows for MNIST.
    train_md5 = {name: hashlib.md5(data).hexdigest() for name, data in train.items()}
    ds = load_dataset("mnist", cache_dir=cache, mirrors=[base], checksums=train_md5, progress=False)
    assert ds.X_train.shape == (10, 784) and ds.X_test.shape == (10000, 784)
    np.testing.assert_array_equal(ds.X_test, read_idx(shared / NAMES[2]).reshape(10000, 784))
    assert hashlib.md5((cache / "mnist" / NAMES[2]).read_bytes()).hexdigest() == "9fb629c4189551a2d022fa330f9573f3"

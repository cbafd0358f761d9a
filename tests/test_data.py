"""Data: the shipped MNIST, its checks, the stratified split, and the full-MNIST downloader
(against a local HTTP server on 127.0.0.1, never the network)."""
import gzip
import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from engines import StepwiseError, data
from engines.data import (ASSETS, download_file, ensure_full_mnist, load_mnist, read_idx, stratified_split,
                          verified_asset)

IMAGES = "mnist/t10k-images-idx3-ubyte.gz"
LABELS = "mnist/t10k-labels-idx1-ubyte.gz"
OFFICIAL = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def shipped_file_for(official_name: str) -> Path:
    """The server stands in for a mirror by serving the shipped files under the official names."""
    return ASSETS / (LABELS if "labels" in official_name else IMAGES)


SHIPPED_MD5 = {name: md5(shipped_file_for(name)) for name in OFFICIAL}


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    """load_mnist caches data sets per process; every test starts without that cache."""
    monkeypatch.setattr(data, "_CACHE", {})


# ---------------------------------------------------------------- the shipped subset
def test_shipped_mnist_raw_files():
    images = read_idx(verified_asset(IMAGES))
    labels = read_idx(verified_asset(LABELS))
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the canonical test-set order
    # the uncompressed IDX file (header included) is the canonical one (assets/README.md)
    raw = gzip.decompress(verified_asset(IMAGES).read_bytes())
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    assert np.array_equal(np.frombuffer(raw, np.uint8, offset=16).reshape(10000, 28, 28), images)
    assert np.bincount(labels).min() > 800  # every digit is there


def test_load_mnist_shapes_and_split():
    d = load_mnist()
    assert d.train_x.shape == (8000, 28, 28) and d.heldout_x.shape == (2000, 28, 28)
    assert d.train_x.dtype == np.float32 and d.train_y.dtype == np.int64
    assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0 and d.train_x.max() > 0.99
    assert d.n_classes == 10
    assert "8,000" in d.source and "2,000" in d.source
    labels = read_idx(verified_asset(LABELS))
    for c in range(10):
        n_c = int((labels == c).sum())
        held = int((d.heldout_y == c).sum())
        assert held + int((d.train_y == c).sum()) == n_c
        assert abs(held / n_c - 0.2) < 0.01, f"class {c}: {held}/{n_c} held out"


def test_split_partitions_the_set_and_is_fixed_by_the_seed():
    labels = read_idx(verified_asset(LABELS))
    train, held = stratified_split(labels, 0.2, seed=0)
    assert len(np.intersect1d(train, held)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(len(labels)))
    train2, held2 = stratified_split(labels, 0.2, seed=0)
    assert np.array_equal(train, train2) and np.array_equal(held, held2)
    _, held3 = stratified_split(labels, 0.2, seed=1)
    assert not np.array_equal(held, held3)
    a = load_mnist(split_seed=0)
    data._CACHE.clear()
    b = load_mnist(split_seed=0)
    assert a is not b and np.array_equal(a.heldout_x, b.heldout_x) and np.array_equal(a.train_y, b.train_y)


def test_unknown_data_set():
    with pytest.raises(StepwiseError, match="Unknown data set"):
        load_mnist("imagenet")


@pytest.fixture
def assets_copy(tmp_path, monkeypatch):
    """A private copy of assets/ that a test may break; STEPWISE_ASSETS points at it."""
    root = tmp_path / "assets"
    shutil.copytree(ASSETS / "mnist", root / "mnist")
    monkeypatch.setenv("STEPWISE_ASSETS", str(root))
    return root


def test_missing_asset_names_the_file(assets_copy):
    (assets_copy / LABELS).unlink()
    with pytest.raises(StepwiseError, match="t10k-labels-idx1-ubyte.gz is missing"):
        load_mnist()


def test_corrupt_asset_names_the_file(assets_copy):
    path = assets_copy / IMAGES
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(StepwiseError, match=r"t10k-images-idx3-ubyte.gz is corrupt"):
        load_mnist()


def test_read_idx_rejects_bad_files(tmp_path):
    not_gzip = tmp_path / "a.gz"
    not_gzip.write_bytes(b"hello, not gzip")
    with pytest.raises(StepwiseError, match="a.gz cannot be read as gzip"):
        read_idx(not_gzip)
    wrong_magic = tmp_path / "b.gz"
    wrong_magic.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + b"\x00" * 8))
    with pytest.raises(StepwiseError, match="not an MNIST"):
        read_idx(wrong_magic)
    short = tmp_path / "c.gz"
    short.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (100).to_bytes(4, "big") + b"\x01" * 99))
    with pytest.raises(StepwiseError, match="c.gz is truncated"):
        read_idx(short)
    cut_gzip = tmp_path / "d.gz"
    cut_gzip.write_bytes(shipped_file_for("labels").read_bytes()[:1000])
    with pytest.raises(StepwiseError, match="d.gz"):
        read_idx(cut_gzip)


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("STEPWISE_CACHE", str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("STEPWISE_CACHE", "")  # set but empty: as if unset
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "stepwise" / "mnist"
    monkeypatch.delenv("STEPWISE_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.cache_dir() == Path.home() / ".cache" / "stepwise" / "mnist"


# ---------------------------------------------------------------- the downloader
class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Serves the shipped files under the official names. Under /truncated/ it announces more
    bytes than it sends; under /cut/ it sends a shortened file with an honest length; under
    /corrupt/ a file of the right length with one byte flipped; anything else is 404."""

    requests: list[str] = []

    def do_GET(self):
        type(self).requests.append(self.path)
        mode, _, name = self.path.strip("/").rpartition("/")
        if name not in OFFICIAL or mode not in ("good", "truncated", "cut", "corrupt"):
            self.send_error(404)
            return
        body = shipped_file_for(name).read_bytes()
        length = len(body)
        if mode == "truncated":
            length += 1000
        elif mode == "cut":
            body = body[: len(body) // 2]
            length = len(body)
        elif mode == "corrupt":
            body = bytearray(body)
            body[len(body) // 3] ^= 0x55
            body = bytes(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror():
    """A local HTTP server on 127.0.0.1 (a free port); yields its base URL."""
    MirrorHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def test_download_file_good(mirror, tmp_path):
    dest = tmp_path / "t10k-labels-idx1-ubyte.gz"
    out = download_file(mirror + "good/t10k-labels-idx1-ubyte.gz", dest, SHIPPED_MD5["t10k-labels-idx1-ubyte.gz"])
    assert out == dest and md5(dest) == SHIPPED_MD5["t10k-labels-idx1-ubyte.gz"]
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("mode, message", [
    ("truncated", "was cut short"),
    ("cut", "does not match its published checksum"),
    ("corrupt", "does not match its published checksum"),
    ("missing", "Not Found"),
])
def test_download_file_bad(mirror, tmp_path, mode, message):
    name = "t10k-labels-idx1-ubyte.gz" if mode != "missing" else "nothing-here.gz"
    url = f"{mirror}{mode}/{name}"
    dest = tmp_path / name
    with pytest.raises(StepwiseError, match=message) as info:
        download_file(url, dest, SHIPPED_MD5["t10k-labels-idx1-ubyte.gz"])
    assert url in str(info.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a .part is left behind


def test_download_file_unreachable(closed_port_url, tmp_path):
    with pytest.raises(StepwiseError, match="Could not download .* check the network connection"):
        download_file(closed_port_url + "x.gz", tmp_path / "x.gz", "0" * 32, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_ensure_full_mnist_downloads_checks_and_caches(mirror, tmp_path, closed_port_url):
    # the first mirror is down, the second serves a corrupt file, the third a good one
    mirrors = (closed_port_url, mirror + "corrupt/", mirror + "good/")
    paths = ensure_full_mnist(tmp_path / "cache", mirrors=mirrors, checksums=SHIPPED_MD5, timeout=5)
    assert sorted(paths) == sorted(OFFICIAL)
    for name, path in paths.items():
        assert path.parent == tmp_path / "cache" and md5(path) == SHIPPED_MD5[name]
    n_requests = len(MirrorHandler.requests)
    assert n_requests == 2 * len(OFFICIAL)
    # a second call finds every file in the cache and downloads nothing
    ensure_full_mnist(tmp_path / "cache", mirrors=mirrors, checksums=SHIPPED_MD5, timeout=5)
    assert len(MirrorHandler.requests) == n_requests
    # a cached file that went bad is downloaded again
    bad = paths["t10k-labels-idx1-ubyte.gz"]
    bad.write_bytes(b"garbage")
    ensure_full_mnist(tmp_path / "cache", mirrors=(mirror + "good/",), checksums=SHIPPED_MD5, timeout=5)
    assert md5(bad) == SHIPPED_MD5["t10k-labels-idx1-ubyte.gz"]
    assert len(MirrorHandler.requests) == n_requests + 1


def test_ensure_full_mnist_every_mirror_fails(mirror, tmp_path):
    with pytest.raises(StepwiseError, match="was cut short"):
        ensure_full_mnist(tmp_path, mirrors=(mirror + "corrupt/", mirror + "truncated/"),
                          checksums=SHIPPED_MD5, timeout=5)


def test_load_full_mnist_from_a_mirror(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("STEPWISE_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "MNIST_MIRRORS", (mirror + "good/",))
    monkeypatch.setattr(data, "MNIST_FULL_MD5", dict(SHIPPED_MD5))
    messages = []
    d = load_mnist("full", notify=messages.append)
    assert messages == []
    assert d.source.startswith("full MNIST")
    # the mirror served the 10,000 test images as "train" and as "test"
    assert d.train_x.shape == (10000, 28, 28) and d.heldout_x.shape == (10000, 28, 28)
    assert d.train_y[:4].tolist() == [7, 2, 1, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OFFICIAL)


def test_load_full_mnist_offline_falls_back_to_the_shipped_subset(closed_port_url, tmp_path, monkeypatch):
    monkeypatch.setenv("STEPWISE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "MNIST_MIRRORS", (closed_port_url,))
    messages = []
    d = load_mnist("full", notify=messages.append)
    assert d.train_x.shape == (8000, 28, 28) and d.heldout_x.shape == (2000, 28, 28)
    assert len(messages) == 1
    assert "Could not download" in messages[0] and closed_port_url in messages[0]
    assert messages[0].endswith("Using the shipped 10,000-image subset instead.")
    # the fallback is not remembered as "full": asking again tries again and tells again
    d2 = load_mnist("full", notify=messages.append)
    assert len(messages) == 2 and d2 is d


def test_load_full_mnist_with_an_unwritable_cache_falls_back(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STEPWISE_CACHE", str(blocker / "cache"))
    messages = []
    d = load_mnist("full", notify=messages.append)
    assert d.train_x.shape == (8000, 28, 28)
    assert "STEPWISE_CACHE" in messages[0]

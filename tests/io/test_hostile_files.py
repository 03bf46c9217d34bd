"""Hostile files (issue 14): each crafted case is refused quickly, within a memory budget, in one line.

The files are built by tests/hostile.py at a small size with the structure of the reported ones
(``python tests/hostile.py --full`` measures the full-size ones).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import struct
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main as cli_main
from glassnet.data.idx import MAX_GZIP_MEMBERS, TRAILING_PEEK, idx_bytes, read_idx
from glassnet.errors import FileFormatError, NonFiniteError
from glassnet.io import safetensors, serialize  # noqa: F401  (imported now: load_model imports it on first use,
#                                                  and tracemalloc would count the import as the load's memory)
from glassnet.io.serialize import MAX_LAYERS, MAX_META_ELEMENTS, load_model, load_npy, save_model

import hostile  # noqa: E402


@contextlib.contextmanager
def peak_memory():
    """Yields a dict whose "peak" is the peak traced allocation (bytes) inside the block."""
    result = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(list(argv))
    return status, out.getvalue(), err.getvalue()


def one_error_line(status: int, err: str, fragment: str) -> None:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glassnet: error: "), err
    assert fragment in lines[0], lines[0]


# ----------------------------------------------------------------------------- 1. overlapping members
def test_overlapping_member_zip_bomb_is_refused_before_reading_the_arrays(tmp_path):
    path = tmp_path / "bomb.npz"
    declared = hostile.overlapping_zip_bomb(path, n_members=24, inner_bytes=2**18)
    size = path.stat().st_size
    assert declared > 20 * size  # the structure of the reported file: many times its size declared
    with peak_memory() as mem, pytest.raises(FileFormatError, match="overlaps member 'bomb/0001.npy'") as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: member 'bomb/0000.npy' overlaps")
    assert "zip bomb" in str(info.value)
    assert mem["peak"] < 2 * size, f"peak {mem['peak']} bytes for a {size}-byte file"


def test_declared_array_sizes_are_compared_with_the_file_size(tmp_path, monkeypatch):
    """The second line of defence, alone: the bomb's metadata declares more array bytes than the file has."""
    path = tmp_path / "bomb.npz"
    declared = hostile.overlapping_zip_bomb(path, n_members=24, inner_bytes=2**18)
    monkeypatch.setattr(serialize, "_check_no_overlap", lambda *args: None)
    with peak_memory() as mem, pytest.raises(FileFormatError) as info:
        load_model(path)
    assert f"the metadata declares {declared} bytes of arrays, more than the whole file" in str(info.value)
    assert mem["peak"] < 2 * path.stat().st_size


def test_an_intact_file_has_no_overlaps(tmp_path):
    model = gn.mlp([5, 7, 3], rng=0)
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.params()["0.W"], model.params()["0.W"])


def test_a_huge_central_directory_is_refused_before_zipfile_reads_it(tmp_path):
    path = tmp_path / "many.npz"
    with open(path, "wb") as f:  # a valid local header, then an end record claiming 100,000 entries in 5 MB
        f.write(b"PK\x03\x04" + bytes(26))
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 65535, 65535, 5_000_000, 30, 0))
    with pytest.raises(FileFormatError, match="the zip directory lists 65535 members in 5000000 bytes"):
        load_model(path)


# ----------------------------------------------------------------------------- 2. metadata size
def test_metadata_of_many_empty_lists_is_refused_by_count_before_parsing(tmp_path):
    path = tmp_path / "lists.npz"
    hostile.metadata_of_empty_lists(path, n_lists=1_000_000)  # 3 MB of "[], "
    with peak_memory() as mem, pytest.raises(FileFormatError, match=r"the metadata holds about 20000\d\d JSON values; glassnet metadata holds at most 100000"):
        load_model(path)
    # the metadata bytes are read (about the file's size, twice: the member and its copy); no Python lists
    assert mem["peak"] < 3 * path.stat().st_size


def test_metadata_element_limit_is_exact_after_parsing(tmp_path):
    """Strings full of commas over-estimate the count; the exact count after parsing decides."""
    model = gn.mlp([3, 2], rng=0)
    model.meta = {"names": [",,,," * 10] * 1000}  # 40,000 commas inside strings, 1,003 values
    save_model(tmp_path / "ok.npz", model)
    assert load_model(tmp_path / "ok.npz").meta == model.meta
    model.meta = {"numbers": list(range(MAX_META_ELEMENTS))}
    with pytest.raises(gn.ConfigError, match="could not be read back"):
        save_model(tmp_path / "big.npz", model)


def test_too_many_layers_are_refused(tmp_path):
    path = tmp_path / "layers.npz"
    hostile.metadata_of_identity_layers(path, n_layers=MAX_LAYERS)  # plus the model's 3 layers
    with pytest.raises(FileFormatError, match=f"the model lists {MAX_LAYERS + 3} layers; .* at most {MAX_LAYERS}"):
        load_model(path)
    hostile.metadata_of_identity_layers(path, n_layers=100_000)  # the reported file had 1.35 million
    with peak_memory() as mem, pytest.raises(FileFormatError, match="JSON values"):
        load_model(path)
    assert mem["peak"] < 3 * path.stat().st_size


# ----------------------------------------------------------------------------- 3. finite weights
@pytest.mark.parametrize("value, words", [(float("nan"), "1 NaN"), (float("inf"), "1 inf"), (-float("inf"), "1 inf")])
def test_nonfinite_weights_are_refused_naming_the_tensor(tmp_path, value, words):
    path = tmp_path / "bad.npz"
    hostile.nonfinite_model(path, value)
    with pytest.raises(FileFormatError) as info:
        load_model(path)
    assert f"{path}: parameter '0.W' holds {words} of 512 values (first at (1, 2))" in str(info.value)
    assert "--allow-nonfinite" in str(info.value)
    loaded = load_model(path, allow_nonfinite=True)
    assert np.isnan(loaded.params()["0.W"][1, 2]) or np.isinf(loaded.params()["0.W"][1, 2])
    # an in-memory model with that weight: predict raises instead of answering class 0, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NonFiniteError, match=r"outputs are NaN or infinite for \d+ of 5 samples.*0\.W hold NaN or inf"):
            loaded.predict(np.full((5, 64), -1.0 if value < 0 else 1.0))  # x[1] * W[1, 2] = +inf into a relu


def test_cli_refuses_nonfinite_models_and_info_can_show_them(tmp_path, capfd):
    path = tmp_path / "bad.npz"
    hostile.nonfinite_model(path, float("inf"))
    one_error_line(*cli("evaluate", str(path))[::2], "parameter '0.W' holds 1 inf")
    np.save(tmp_path / "x.npy", np.ones((2, 64)))
    one_error_line(*cli("predict", str(path), str(tmp_path / "x.npy"))[::2], "parameter '0.W' holds 1 inf")
    one_error_line(*cli("info", str(path))[::2], "--allow-nonfinite")
    status, out, err = cli("info", "--allow-nonfinite", str(path))
    assert status == 0 and not err
    assert "0.W    (64, 8)      NOT FINITE: 1 inf of 512 values (first at (1, 2))" in out
    assert "RuntimeWarning" not in capfd.readouterr().err


# ----------------------------------------------------------------------------- 4. not a regular file
FIFO_CHILD = """
import sys
from glassnet.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("argv", [["info", "{p}"], ["evaluate", "{p}"], ["predict", "{m}", "{p}.npy"],
                                  ["predict", "{m}", "{p}-idx3-ubyte"]], ids=["info", "evaluate", "npy", "idx"])
def test_a_symlink_to_a_fifo_is_refused_without_blocking(tmp_path, argv):
    model = tmp_path / "model.npz"
    save_model(model, gn.mlp([4, 3], rng=0))
    target = tmp_path / "fifo"
    os.mkfifo(target)
    for suffix in ("", ".npy", "-idx3-ubyte"):
        os.symlink(target, tmp_path / f"link{suffix}")
    args = [a.format(p=tmp_path / "link", m=model) for a in argv]
    proc = subprocess.run([sys.executable, "-c", FIFO_CHILD, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    one_error_line(proc.returncode, proc.stderr, "not a regular file: it is a FIFO (named pipe)")


def test_directories_and_devices_are_refused(tmp_path):
    with pytest.raises(FileFormatError, match="not a regular file: it is a directory"):
        load_model(tmp_path)
    with pytest.raises(FileFormatError, match="not a regular file: it is a directory"):
        read_idx(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(FileFormatError, match="/dev/zero: not a regular file: it is a character device"):
            read_idx("/dev/zero")
        with pytest.raises(FileFormatError, match="it is a character device"):
            load_npy("/dev/zero")


# ----------------------------------------------------------------------------- 6. IDX trailing data
def test_gzip_trailing_zeros_are_refused_without_decompressing_them(tmp_path):
    path = tmp_path / "trailing.idx.gz"
    hostile.gzip_idx_with_trailing_zeros(path, trailing_bytes=2**30, member_bytes=2**28)  # 1 GiB in ~1 MB
    assert path.stat().st_size < 2**21
    with peak_memory() as mem, pytest.raises(FileFormatError) as info:
        read_idx(path)
    assert f"more than {TRAILING_PEEK} trailing byte(s) after the 0 bytes of data" in str(info.value)
    assert mem["peak"] < 4 * 2**20  # one read chunk, not a gigabyte


def test_small_trailing_data_in_gzip_is_counted_exactly(tmp_path):
    good = idx_bytes(np.arange(6, dtype=np.uint8))
    (tmp_path / "t.gz").write_bytes(gzip.compress(good) + gzip.compress(b"\x07" * 5))
    with pytest.raises(FileFormatError, match=r"5 trailing byte\(s\) after the 6 bytes of data"):
        read_idx(tmp_path / "t.gz")


def test_concatenated_gzip_members_still_read(tmp_path):
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    (tmp_path / "split.gz").write_bytes(gzip.compress(good[:7]) + b"\x00\x00" + gzip.compress(good[7:]))
    np.testing.assert_array_equal(read_idx(tmp_path / "split.gz"), np.arange(24).reshape(2, 3, 4))


def test_too_many_gzip_members_are_refused(tmp_path):
    good = idx_bytes(np.arange(6, dtype=np.uint8))
    empty = gzip.compress(b"")
    (tmp_path / "many.gz").write_bytes(gzip.compress(good) + empty * 100_000)
    with pytest.raises(FileFormatError, match=f"more than {MAX_GZIP_MEMBERS} concatenated gzip members"):
        read_idx(tmp_path / "many.gz")


# ----------------------------------------------------------------------------- 7. npy inputs
def test_predict_on_an_empty_npy_is_one_line(tmp_path):
    model = tmp_path / "model.npz"
    save_model(model, gn.mlp([4, 3], rng=0))
    hostile.empty_npy(tmp_path / "empty.npy")
    one_error_line(*cli("predict", str(model), str(tmp_path / "empty.npy"))[::2],
                   "empty.npy: the file is empty, not a .npy array")


def test_npy_declaring_more_data_than_it_holds_is_refused_before_allocating(tmp_path):
    path = tmp_path / "liar.npy"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 64)})
    path.write_bytes(header.getvalue() + bytes(64))
    with peak_memory() as mem, pytest.raises(FileFormatError, match=r"shape \(1000000000, 64\) \(512000000000 data bytes\), the file holds 64"):
        load_npy(path)
    assert mem["peak"] < 2**20


def test_load_npy_round_trips_c_and_fortran_order(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "c.npy", a)
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    np.testing.assert_array_equal(load_npy(tmp_path / "c.npy"), a)
    np.testing.assert_array_equal(load_npy(tmp_path / "f.npy"), a)
    np.save(tmp_path / "o.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="holds pickled Python objects"):
        load_npy(tmp_path / "o.npy")

"""Resource-bounded fuzzing (issue 14): mutated model files, checkpoints and IDX files, each loaded in a subprocess
under ``resource.setrlimit`` memory and CPU limits and a per-file alarm.

Every file must end in one of two ways:

* **refused** with a glassnet error (the documented ones: ``FileFormatError``, or ``ConfigError``/``DataError``
  from a checkpoint whose content does not fit the run), or
* **loaded correctly**: a model file gives a model whose predictions are finite (and, when the file was only
  damaged where nothing is read, the original model exactly); a checkpoint restores into the run and trains one
  more epoch; an IDX file gives the array whose encoding is the file's content.

Anything else (another exception, a crash, the memory limit, a hang) fails the test, naming the case.  The
summary (cases, refused, loaded, worst memory, worst time) is printed in the CI log.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.data.idx import idx_bytes
from glassnet.io.serialize import MAX_META_ELEMENTS, load_arrays, save_arrays, save_model
from glassnet.optim.optimizers import SGD
from glassnet.train.checkpoint import CHECKPOINT_KIND, save_checkpoint
from glassnet.train.loop import TrainState, fit

import hostile  # noqa: E402

N_MODEL, N_CHECKPOINT, N_IDX = 200, 160, 160
MEMORY_LIMIT = 2 * 2**30  # address space of each worker (numpy and BLAS reserve a few hundred MB of it)
CPU_SECONDS = 120  # CPU time of each worker
ALARM_SECONDS = 10  # wall time of one file
N_WORKERS = 2
#: the Python objects of the largest metadata accepted (MAX_META_ELEMENTS values, at most ~64 bytes each)
METADATA_OBJECTS = MAX_META_ELEMENTS * 64 + 2**20

WORKER = r'''
import faulthandler, json, math, resource, signal, sys, time, tracemalloc
memory, cpu, alarm = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
import gzip
import numpy as np
import glassnet as gn
from glassnet.errors import GlassnetError
from glassnet.data.idx import idx_bytes, read_idx
from glassnet.io.serialize import load_model
from glassnet.optim.optimizers import SGD
from glassnet.train.checkpoint import load_checkpoint, restore_state
from glassnet.train.loop import fit

class Hang(BaseException):
    pass

def on_alarm(signum, frame):
    raise Hang()

LOAD_PEAK = []

def loaded():
    """The load is done: keep its peak traced memory, stop tracing (checking the result is not measured)."""
    LOAD_PEAK.append(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()

signal.signal(signal.SIGALRM, on_alarm)
jobs = json.load(open(sys.argv[1]))
ref = jobs["reference"]
X = np.asarray(ref["X"], dtype=np.float32)
y = np.asarray(ref["y"])
original = load_model(ref["model"])

def check_model(path):
    model = load_model(path)
    loaded()
    probs = model.predict_proba(X) if model.n_inputs == X.shape[1] else None
    assert probs is None or np.isfinite(probs).all()
    same = (model.describe() == original.describe() and model.meta == original.meta and
            all(np.array_equal(a, model.params()[k]) for k, a in original.params().items()))
    return "loaded intact" if same else "loaded (a changed but valid model)"

def check_checkpoint(path):
    arrays, meta = load_checkpoint(path)
    loaded()
    model = gn.mlp([4, 6, 3], rng=0)
    opt = SGD(lr=0.1, momentum=0.9)
    state = restore_state(model, opt, arrays, meta)
    fit(model, X, y, optimizer=opt, epochs=state.epoch + 1, batch_size=8, validation_split=0.2, state=state)
    assert all(np.isfinite(p).all() for p in model.params().values())
    return "loaded and resumed"

def check_idx(path):
    array = read_idx(path)
    loaded()
    raw = open(path, "rb").read()
    content = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    assert idx_bytes(array) == content, "the array does not encode to the file's content"
    return "loaded (encodes to the file)"

CHECKS = {"model": check_model, "checkpoint": check_checkpoint, "idx": check_idx}
for case in jobs["cases"]:
    print(json.dumps({"start": case["id"]}), flush=True)
    LOAD_PEAK.clear()
    tracemalloc.start()
    started = time.perf_counter()
    signal.alarm(alarm)
    try:
        outcome, error = CHECKS[case["kind"]](case["path"]), None
    except GlassnetError as exc:
        outcome, error = "refused", f"{type(exc).__name__}: {str(exc)[:200]}"
    except Hang:
        outcome, error = "FAILED", f"no answer within {alarm} s"
    except BaseException as exc:
        outcome, error = "FAILED", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else (LOAD_PEAK or [None])[0]
    print(json.dumps({"id": case["id"], "outcome": outcome, "error": error, "seconds": seconds,
                      "peak": peak}), flush=True)
    tracemalloc.stop()
'''


# ----------------------------------------------------------------------------- the originals
def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)


def _original_files(root: Path) -> dict[str, bytes]:
    X, y = _data()
    model = gn.mlp([4, 6, 3], rng=0)
    model.meta = {"class_names": ["a", "b", "c"], "history": {"records": [{"epoch": 1, "loss": 0.5}]}}
    save_model(root / "model.npz", model)
    net = gn.mlp([4, 6, 3], rng=0)
    opt = SGD(lr=0.1, momentum=0.9)
    state = TrainState(rng=np.random.default_rng(1))

    class Stop:
        def on_batch_end(self, step):
            if step.step == 5:
                step.state.stop = True

    fit(net, X, y, optimizer=opt, epochs=3, batch_size=8, validation_split=0.2, state=state, callbacks=[Stop()])
    save_checkpoint(root / "ck", net, opt, state, {"note": "fuzz"})
    (checkpoint,) = (root / "ck").glob("ckpt-*.npz")
    images = np.random.default_rng(2).integers(0, 256, (5, 3, 4), dtype=np.uint8)
    return {
        "model": (root / "model.npz").read_bytes(),
        "checkpoint": checkpoint.read_bytes(),
        "idx": idx_bytes(images),
        "idx.gz": gzip.compress(idx_bytes(images), mtime=0),
    }


# ----------------------------------------------------------------------------- mutations
def damage(data: bytes, rng: np.random.Generator) -> bytes:
    """1 to 4 random byte-level operations."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        if not buf:
            break
        pos = int(rng.integers(0, len(buf)))
        op = rng.integers(0, 6)
        if op == 0:
            buf[pos] ^= int(rng.integers(1, 256))
        elif op == 1:
            del buf[pos:]
        elif op == 2:
            buf[pos:pos] = rng.bytes(int(rng.integers(1, 17)))
        elif op == 3:
            del buf[pos : pos + int(rng.integers(1, 17))]
        elif op == 4:  # copy a chunk over another place
            src = int(rng.integers(0, len(buf)))
            chunk = buf[src : src + int(rng.integers(1, 65))]
            buf[pos : pos + len(chunk)] = chunk
        else:  # a 4-byte field set to an extreme
            buf[pos : pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f"])
    return bytes(buf)


def random_json(rng: np.random.Generator, depth: int = 0):
    makers = [
        lambda: None, lambda: True, lambda: int(rng.integers(-5, 5)), lambda: 10 ** int(rng.integers(1, 40)),
        lambda: float(rng.standard_normal()),
        lambda: "".join(rng.choice(list("ab_.0/relu"), size=int(rng.integers(0, 6)))),
        lambda: [0] * int(rng.integers(1, 3)),
        lambda: [[]] * int(rng.integers(1000, 20_000)),  # many values (more than the limit: test_hostile_files)
        lambda: [random_json(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))],
        lambda: {str(k): random_json(rng, depth + 1) for k in range(int(rng.integers(0, 3)))},
    ]
    return makers[int(rng.integers(0, len(makers) if depth < 3 else 8))]()


def json_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from json_paths(child, prefix + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node[:5]):
            yield from json_paths(child, prefix + (i,))


def edit_json(meta: dict, rng: np.random.Generator) -> None:
    """Replace, delete or add one node of ``meta``."""
    paths = [p for p in json_paths(meta) if p]
    where = paths[int(rng.integers(0, len(paths)))]
    parent = meta
    for key in where[:-1]:
        parent = parent[key]
    action = rng.integers(0, 3)
    if action == 0 and isinstance(parent, dict):
        del parent[where[-1]]
    elif action == 1 and isinstance(parent, dict):
        parent[f"extra{int(rng.integers(0, 9))}"] = random_json(rng)
    else:
        parent[where[-1]] = random_json(rng)


def reseal_model(data: bytes, rng: np.random.Generator) -> bytes:
    """Edit the model file's metadata or one array, and write it back with valid digests (as a forger would)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(np.load(io.BytesIO(members["__meta__.npy"])).tobytes())
    arrays = {n[:-4]: np.load(io.BytesIO(b)) for n, b in members.items() if n != "__meta__.npy"}
    if rng.random() < 0.6:
        edit_json(header, rng)
    else:
        name = sorted(arrays)[int(rng.integers(0, len(arrays)))]
        choice = rng.integers(0, 4)
        a = arrays[name]
        if choice == 0:
            a = a.copy()
            a.flat[int(rng.integers(0, a.size))] = rng.choice([np.nan, np.inf, -np.inf, 1e38])
        elif choice == 1:
            a = np.zeros(tuple(int(d) for d in rng.integers(0, 9, size=int(rng.integers(0, 3)))), a.dtype)
        elif choice == 2:
            a = a.astype(rng.choice(["float64", "int32", "uint8", "float16"]))
        else:
            del arrays[name]
            a = None
        if a is not None:
            arrays[name] = a
        header["arrays"] = {n: {"shape": list(v.shape), "dtype": v.dtype.name} for n, v in arrays.items()}
        from glassnet.io.serialize import sha256_of_arrays

        header["sha256"] = sha256_of_arrays(arrays)
    if isinstance(header, dict):
        header["meta_sha256"] = hostile._meta_sha256(header) if all(isinstance(k, str) for k in header) else "0"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        buffer = io.BytesIO()
        np.save(buffer, np.frombuffer(json.dumps(header).encode(), np.uint8))
        archive.writestr("__meta__.npy", buffer.getvalue())
        for name, a in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, a)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return out.getvalue()


def reseal_checkpoint(path: Path, data: bytes, rng: np.random.Generator) -> None:
    path.write_bytes(data)
    arrays, meta = load_arrays(path, CHECKPOINT_KIND)
    if rng.random() < 0.7:
        edit_json(meta, rng)
    else:
        name = sorted(arrays)[int(rng.integers(0, len(arrays)))]
        a = arrays[name].copy()
        choice = rng.integers(0, 4)
        if choice == 0 and a.size and a.dtype.kind == "f":
            a.flat[0] = np.nan
        elif choice == 1 and a.size:
            a = a.reshape(-1)[: a.size // 2]
        elif choice == 2 and a.size:
            a.flat[0] = a.flat[-1] + 7
        else:
            a = a.astype(np.float64) if a.dtype != np.float64 else a.astype(np.int32)
        arrays[name] = a
    try:
        save_arrays(path, arrays, meta, CHECKPOINT_KIND)
    except gn.ConfigError:  # what the writer itself refuses (too many values): keep the damaged bytes instead
        path.write_bytes(damage(data, rng))


def mutate_idx(originals: dict[str, bytes], rng: np.random.Generator) -> bytes:
    raw, packed = originals["idx"], originals["idx.gz"]
    choice = rng.integers(0, 6)
    if choice == 0:
        return damage(raw, rng)
    if choice == 1:
        return damage(packed, rng)
    if choice == 2:  # another header on the same data
        dims = rng.integers(0, 2**31 if rng.random() < 0.3 else 12, size=int(rng.integers(1, 4)))
        header = bytes([0, 0, int(rng.choice([8, 9, 11, 12, 13, 14, 7])), len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
        body = header + raw[4 + 4 * raw[3] :]
        return gzip.compress(body, mtime=0) if rng.random() < 0.5 else body
    if choice == 3:  # trailing gzip members of zeros, or garbage after the stream
        extra = gzip.compress(bytes(int(rng.integers(1, 2**22))), mtime=0) if rng.random() < 0.7 else rng.bytes(9)
        return packed + extra * int(rng.integers(1, 4))
    if choice == 4:  # the stream split into members at a random place, maybe with padding
        cut = int(rng.integers(0, len(raw)))
        return gzip.compress(raw[:cut], mtime=0) + b"\x00" * int(rng.integers(0, 3)) + gzip.compress(raw[cut:], mtime=0)
    return damage(gzip.compress(raw + bytes(int(rng.integers(0, 5))), mtime=0), rng)


def build_cases(root: Path) -> list[dict]:
    originals = _original_files(root)
    rng = np.random.default_rng(2026)
    cases = []
    files = root / "cases"
    files.mkdir()

    def add(kind: str, data: bytes | None = None, path: Path | None = None, how: str = "") -> None:
        path = path or files / f"{len(cases):04d}-{kind}"
        if data is not None:
            path.write_bytes(data)
        cases.append({"id": len(cases), "kind": kind, "path": str(path), "how": how, "size": path.stat().st_size})

    for i in range(N_MODEL):
        roll = rng.random()
        if roll < 0.5:
            add("model", damage(originals["model"], rng), how="bytes")
        elif roll < 0.95:
            add("model", reseal_model(originals["model"], rng), how="resealed edit")
        else:
            path = files / f"{len(cases):04d}-model"
            hostile.overlapping_zip_bomb(path, int(rng.integers(2, 30)), int(rng.integers(1, 2**16)))
            add("model", path=path, how="overlapping members")
    for i in range(N_CHECKPOINT):
        if rng.random() < 0.45:
            add("checkpoint", damage(originals["checkpoint"], rng), how="bytes")
        else:
            path = files / f"{len(cases):04d}-checkpoint"
            reseal_checkpoint(path, originals["checkpoint"], rng)
            add("checkpoint", path=path, how="resealed edit")
    for i in range(N_IDX):
        add("idx", mutate_idx(originals, rng), how="idx")
    return cases, originals


def test_mutated_files_load_correctly_or_are_refused_within_limits(tmp_path, capsys):
    cases, originals = build_cases(tmp_path)
    X, y = _data()
    reference = {"model": str(tmp_path / "model.npz"), "X": X.tolist(), "y": y.tolist()}
    procs = []
    for w in range(N_WORKERS):
        jobs = tmp_path / f"jobs-{w}.json"
        jobs.write_text(json.dumps({"reference": reference, "cases": cases[w::N_WORKERS]}))
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(sys.path)}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(jobs), str(MEMORY_LIMIT), str(CPU_SECONDS), str(ALARM_SECONDS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results: dict[int, dict] = {}
    problems = []
    for proc in procs:
        out, err = proc.communicate(timeout=CPU_SECONDS * 3)
        started = None
        for line in out.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
            else:
                results[record["id"]] = record
                started = None
        if proc.returncode != 0:
            case = cases[started] if started is not None else None
            problems.append(f"a worker died (status {proc.returncode}) on {case}: {err[-2000:]}")
    for case in cases:
        record = results.get(case["id"])
        if record is None:
            continue
        if record["outcome"] == "FAILED":
            problems.append(f"case {case['id']} ({case['kind']}, {case['how']}, {case['path']}): {record['error']}")
    counts = Counter(r["outcome"] for r in results.values())
    by_kind = Counter(c["kind"] for c in cases)
    measured = [r for r in results.values() if r["peak"] is not None]
    worst_memory = max(measured, key=lambda r: r["peak"])
    worst_time = max(results.values(), key=lambda r: r["seconds"])
    with capsys.disabled():
        print(f"\n[fuzz] {len(cases)} mutated files ({by_kind['model']} model files, {by_kind['checkpoint']} checkpoints, "
              f"{by_kind['idx']} IDX files), {N_WORKERS} subprocesses under RLIMIT_AS {MEMORY_LIMIT >> 20} MiB, "
              f"RLIMIT_CPU {CPU_SECONDS} s, {ALARM_SECONDS} s per file: "
              + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
              + f"; worst memory {worst_memory['peak'] / 2**20:.2f} MiB (case {worst_memory['id']}, "
              f"{cases[worst_memory['id']]['size']} bytes), worst time {worst_time['seconds']:.3f} s "
              f"(case {worst_time['id']})")
    assert not problems, "\n".join(problems[:20])
    assert len(results) == len(cases) >= 500
    assert counts["refused"] > 200 and sum(n for k, n in counts.items() if k.startswith("loaded")) > 10
    for r in measured:  # the load itself: twice the file and its declared content, plus the metadata's objects
        case = cases[r["id"]]
        budget = 2 * (case["size"] + (len(originals["idx"]) if case["kind"] == "idx" else 0)) + METADATA_OBJECTS
        assert r["peak"] < budget, f"case {r['id']} ({case['how']}): {r['peak']} bytes for a {case['size']}-byte file"

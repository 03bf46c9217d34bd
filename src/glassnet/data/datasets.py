"""Datasets: scikit-learn's digits, MNIST, Fashion-MNIST, KMNIST, or any folder of IDX files.

``load_dataset(name_or_path)`` returns a :class:`Dataset` whose features are
flattened, ``X : (n_samples, n_features)`` in the files' own dtype (uint8
pixels), with integer labels ``y : (n_samples,)`` in ``[0, n_classes)``; the
original image shape is kept in ``Dataset.image_shape`` and the largest
possible pixel value in ``Dataset.pixel_max`` (255 for IDX images, 16 for
digits), which :mod:`glassnet.data.preprocess` uses to scale pixels to [0, 1].

Where a named dataset is looked for, in this order (the first folder that has
all four files wins)::

    1. data_dir=... (data_dir/<name>/ or the folder itself); an explicit data_dir
       holding only one split (e.g. only MNIST's t10k files) is used as it is,
       that split divided into train / held-out parts (see split_test)
    2. $GLASSNET_DATA/<name>/
    3. the user cache: $XDG_CACHE_HOME/glassnet/<name>/ or ~/.cache/glassnet/<name>/
    4. system folders: /usr/share/datasets/<name>/ (Debian's dataset-fashion-mnist
       package installs /usr/share/datasets/fashion-mnist/)
    5. download from the dataset's mirrors (or $GLASSNET_MIRROR, or mirrors=...)
       into the user cache

A file may be gzip-compressed (``train-images-idx3-ubyte.gz``) or not
(``train-images-idx3-ubyte``).  Files are verified by checksum: the md5 of the
*decompressed* content (the same whichever gzip produced the file, so both
Debian's and the original download pass) or the md5 of the published ``.gz``.
A download streams into a temporary file inside the cache folder, is verified,
and only then moved into place with ``os.replace``, so the cache never holds
a partial or unverified file.

Environment variables (``GLASSNET_DATA``, ``GLASSNET_MIRROR``,
``XDG_CACHE_HOME``, ``HOME``) are read once, in :func:`load_dataset` itself,
and passed down as plain arguments.

A folder path instead of a name loads whatever IDX files it holds:
``train-images*``, ``train-labels*``, ``t10k-images*`` (or ``test-images*``),
``t10k-labels*``.  When the folder has only one of the two splits (such as a
folder with only MNIST's 10,000 test images), that split is divided into train
and held-out parts, stratified by class with a fixed seed, and
``Dataset.source`` says so.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import ConfigError, DataError, DatasetNotFoundError, DownloadError, FileFormatError
from glassnet.core.files import open_regular
from glassnet.data.splits import train_test_split_stratified
from glassnet.data.idx import idx_bytes, read_idx

__all__ = [
    "Dataset",
    "IdxFile",
    "DatasetSpec",
    "DATASETS",
    "DATASET_NAMES",
    "ROLES",
    "load_dataset",
    "train_test_split_stratified",
    "download_file",
    "default_cache_dir",
]

#: The four files of an IDX dataset, in this order everywhere.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")

DIGITS_TEST_SIZE = 360  # 1797 digits -> 1437 train / 360 test (20 %)
HOLDOUT_TEST_SIZE = 2000  # a single IDX split of 10,000 -> 8,000 train / 2,000 held out
DEFAULT_SPLIT_SEED = 0
DEFAULT_TIMEOUT = 30.0
_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024  # far above any file here; stops a runaway server
_CHUNK = 1 << 16


# --------------------------------------------------------------------------- the Dataset


@dataclass
class Dataset:
    """A train/test pair of a classification dataset.

    X_train : (n_train, n_features), X_test : (n_test, n_features), the files'
    dtype (uint8 for images); y_train : (n_train,), y_test : (n_test,), int64
    labels in ``[0, len(class_names))``.  ``image_shape`` is the shape one row
    reshapes to (e.g. (28, 28)), None for non-image data; ``pixel_max`` the
    largest possible raw value (255 for uint8 images, 16 for digits).
    ``source`` says in words where the arrays came from and how they were split.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    name: str
    source: str
    image_shape: tuple[int, ...] | None = None
    pixel_max: float | None = None

    def __post_init__(self) -> None:
        for part, X, y in (("train", self.X_train, self.y_train), ("test", self.X_test, self.y_test)):
            if X.ndim != 2:
                raise DataError(f"{self.name}: X_{part} must be (n_samples, n_features), got shape {X.shape}")
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise DataError(
                    f"{self.name}: y_{part} must be ({X.shape[0]},) to match X_{part}, got shape {y.shape}"
                )
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise DataError(
                    f"{self.name}: y_{part} labels must lie in [0, {len(self.class_names)}), "
                    f"got min {y.min()} and max {y.max()}"
                )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise DataError(
                f"{self.name}: train and test have different feature counts, "
                f"{self.X_train.shape[1]} and {self.X_test.shape[1]}"
            )

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.X_train.shape}, test={self.X_test.shape}, "
            f"dtype={self.X_train.dtype}, n_classes={self.n_classes}, image_shape={self.image_shape}, "
            f"source={self.source!r})"
        )


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class IdxFile:
    """One published IDX file: its name and the checksums it may have.

    ``digests`` holds every accepted hex digest (md5: 32 hex digits, sha256:
    64); a file passes when the digest of its raw bytes *or* of its
    decompressed content is among them.
    """

    role: str
    filename: str
    digests: frozenset[str] = field(default_factory=frozenset)

    @property
    def stem(self) -> str:
        """The uncompressed name, ``train-images-idx3-ubyte`` for ``train-images-idx3-ubyte.gz``."""
        return self.filename[:-3] if self.filename.endswith(".gz") else self.filename


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: where its IDX files live and what they must hash to, or how to build it.

    A dataset published as IDX files lists ``files``, ``mirrors`` and
    ``system_dirs``; :func:`load_dataset` finds, verifies or downloads them.
    A dataset that comes from a library instead (scikit-learn's digits) has no
    files and gives ``load(split_test, seed) -> Dataset``, called with the
    caller's test size (None: the dataset's own default) and split seed.
    """

    name: str
    title: str
    class_names: tuple[str, ...]
    files: tuple[IdxFile, ...] = ()
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    install_hint: str = ""
    load: Callable[[int | None, int], Dataset] | None = None

    def file(self, role: str) -> IdxFile:
        return next(spec for spec in self.files if spec.role == role)


def _files(digests: Mapping[str, tuple[str, ...]]) -> tuple[IdxFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(IdxFile(role, name, frozenset(digests[role])) for role, name in zip(ROLES, names, strict=True))


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        name="digits",
        title="scikit-learn's 8x8 handwritten digits (UCI optdigits test set)",
        class_names=tuple(str(digit) for digit in range(10)),
        load=lambda split_test, seed: _load_digits(DIGITS_TEST_SIZE if split_test is None else split_test, seed),
    ),
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST handwritten digits (LeCun, Cortes, Burges)",
        class_names=tuple(str(digit) for digit in range(10)),
        # (decompressed md5, md5 of the published .gz).  The two t10k decompressed
        # md5s were computed here from the official .gz files; the two train ones
        # are the values published next to them by other loaders (not recomputed
        # here, so the .gz md5 is accepted as well).
        files=_files({
            "train_images": ("6bbc9ace898e44ae57da46a324031adb", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            "train_labels": ("a25bea736e30d166cdddb491f175f624", "d53e105ee54ea40749a09fcbcd1e9432"),
            "test_images": ("2646ac647ad5339dbf082846283269ea", "9fb629c4189551a2d022fa330f9573f3"),
            "test_labels": ("27ae3e4e09519cfbb04c329615203637", "ec29112dd5afa0611ce80d1b7f02629c"),
        }),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        system_dirs=("/usr/share/datasets/mnist",),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando Research)",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        # (decompressed md5, md5 of Zalando's .gz, md5 of Debian's re-compressed .gz)
        files=_files({
            "train_images": ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                             "cf8536b0aa1a6ac5fa3f23001093305c"),
            "train_labels": ("9018921c3c673c538a1fc5bad174d6f9", "25c81989df183df01b3e8a0aad5dffbe",
                             "10bea18fdb374794d4bb42e356e600c9"),
            "test_images": ("8181f5470baa50b63fa0f6fddb340f0a", "bef4ecab320f06d8554ea6380940ec79",
                            "f78720b4224f21cce2f2ccf2d7a94c9a"),
            "test_labels": ("15d484375f8d13e6eb1aabb0c3f46965", "bb300cfdad3c16e7a12a480ee83cd310",
                            "0d30e22e447f3c33dab9ed536400ac01"),
        }),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        install_hint=(
            "apt-get install dataset-fashion-mnist (Debian/Ubuntu) puts it in /usr/share/datasets/fashion-mnist"
        ),
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        title="Kuzushiji-MNIST (ROIS-DS Center for Open Data in the Humanities)",
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        # Only the md5s of the published .gz files are known (the values torchvision
        # checks too), so an uncompressed copy cannot be verified: keep the .gz
        # files, or load an uncompressed copy with verify=False.
        files=_files({
            "train_images": ("bdb82020997e1d708af4cf47b453dcf7",),
            "train_labels": ("e144d726b3acfaa3e44228e80efcd344",),
            "test_images": ("5c965bf0a639b31b8f53240b1b52f4d7",),
            "test_labels": ("7320c461ea6c1c855c0b718fb2a4b134",),
        }),
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        system_dirs=("/usr/share/datasets/kmnist",),
    ),
}

#: Every name load_dataset accepts (the CLI's choices).
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)

_ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "kuzushiji-mnist": "kmnist"}


def _canonical_name(name: str) -> str | None:
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    return key if key in DATASET_NAMES else None


# --------------------------------------------------------------------------- checksums


def _algorithm(digest: str) -> str:
    return "sha256" if len(digest) == 64 else "md5"


def _hexdigests(data: bytes, algorithms: Iterable[str]) -> set[str]:
    return {hashlib.new(name, data).hexdigest() for name in algorithms}


def _file_digests(path: Path, algorithms: Iterable[str]) -> set[str]:
    hashers = [hashlib.new(name) for name in algorithms]
    with open_regular(path) as stream:
        while chunk := stream.read(1 << 20):
            for hasher in hashers:
                hasher.update(chunk)
    return {hasher.hexdigest() for hasher in hashers}


def _read_verified(path: Path, accepted: Collection[str]) -> tuple[np.ndarray, str]:
    """Read an IDX file and check it against ``accepted`` digests.

    Returns (array, note); raises FileFormatError when the file is not valid
    IDX or matches none of ``accepted``.  With ``accepted`` empty, only the
    IDX structure is checked, and the note says so.
    """
    array = read_idx(path)
    if not accepted:
        return array, "no known checksum; IDX structure checked"
    algorithms = {_algorithm(digest) for digest in accepted}
    content = _hexdigests(idx_bytes(array), algorithms)
    if content & set(accepted):
        return array, "checksum of the decompressed content verified"
    raw = _file_digests(path, algorithms)
    if raw & set(accepted):
        return array, "checksum of the file verified"
    raise FileFormatError(
        f"{path}: checksum mismatch: the file hashes to {', '.join(sorted(raw))} "
        f"and its decompressed content to {', '.join(sorted(content))}; "
        f"expected one of {', '.join(sorted(accepted))}"
    )


# --------------------------------------------------------------------------- downloading


def _is_unreachable(error: BaseException) -> bool:
    """True for 'could not talk to the server at all' (offline), not 'it sent something bad'."""
    if isinstance(error, urllib.error.HTTPError):
        return False
    if isinstance(error, urllib.error.URLError):
        return True
    return isinstance(error, (ConnectionError, socket.timeout, TimeoutError))


def _progress_bar(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm  # imported here: only a download needs it

    return tqdm(
        total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
        disable=not (enabled and sys.stderr.isatty()),
    )


def _fetch_to(url: str, tmp, timeout: float, progress: bool, desc: str) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with _progress_bar(total, desc, progress) as bar:
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > _MAX_DOWNLOAD_BYTES:
                    raise DownloadError(f"more than {_MAX_DOWNLOAD_BYTES} bytes; refusing to go on")
                tmp.write(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"incomplete download: got {received} of {total} bytes")


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike[str],
    *,
    digests: Collection[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Download an IDX file to ``dest`` from the first of ``urls`` that works.

    Each try streams into a temporary file in ``dest``'s folder (with a tqdm
    bar when ``progress`` and stderr is a terminal), then checks it: the file
    must be valid IDX and, when ``digests`` is given, its raw or decompressed
    md5/sha256 must be one of them.  Only then is it moved onto ``dest`` with
    ``os.replace``; after a failure no partial file is left behind.  When every
    URL fails, raises DownloadError listing each URL and its error (the
    ``attempts`` attribute holds the ``(url, exception)`` pairs).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[tuple[str, BaseException]] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as tmp:
                _fetch_to(url, tmp, timeout, progress, dest.name)
                tmp.flush()
                os.fsync(tmp.fileno())
            # Verify BEFORE the file takes its final name.  With no known checksum
            # (a mirror override without checksums=...) the IDX structure check is
            # all the assurance there is.
            _read_verified(tmp_path, digests)
            os.replace(tmp_path, dest)
            return dest
        except FileFormatError as error:  # not IDX, or checksum mismatch
            attempts.append((url, FileFormatError(str(error).replace(str(tmp_path), "the downloaded file"))))
        except (OSError, http.client.HTTPException, ValueError) as error:
            # OSError covers URLError, HTTPError, timeouts, refused connections and
            # DownloadError; HTTPException covers IncompleteRead (connection cut);
            # ValueError an URL urllib cannot open.
            attempts.append((url, error))
        finally:
            tmp_path.unlink(missing_ok=True)
    lines = "\n".join(f"  - {url}: {_describe(error)}" for url, error in attempts)
    failure = DownloadError(f"could not download {dest.name}; every mirror failed:\n{lines}")
    failure.attempts = attempts  # type: ignore[attr-defined]
    raise failure


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot connect ({error.reason})"
    if isinstance(error, http.client.IncompleteRead):
        return f"connection closed early: got {len(error.partial)} bytes, {error.expected} more expected"
    return f"{type(error).__name__}: {error}" if not isinstance(error, (FileFormatError, DownloadError)) else str(error)


# --------------------------------------------------------------------------- locating files


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/glassnet`` or ``~/.cache/glassnet`` (the folder, not created)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "glassnet"


def _named_files_in(folder: Path, spec: DatasetSpec) -> dict[str, Path]:
    """The spec's files present in ``folder`` (``name.gz`` preferred over ``name``)."""
    found = {}
    for idx_file in spec.files:
        for candidate in (folder / idx_file.filename, folder / idx_file.stem):
            if candidate.is_file():
                found[idx_file.role] = candidate
                break
    return found


_FOLDER_PREFIXES = {
    "train_images": ("train-images",),
    "train_labels": ("train-labels",),
    "test_images": ("t10k-images", "test-images"),
    "test_labels": ("t10k-labels", "test-labels"),
}


def _folder_files(folder: Path) -> dict[str, Path]:
    """Find IDX files by name prefix in an arbitrary folder; ConfigError if a role is ambiguous."""
    found: dict[str, Path] = {}
    entries = sorted(entry for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith("."))
    for role, prefixes in _FOLDER_PREFIXES.items():
        matches = [entry for entry in entries if entry.name.lower().startswith(prefixes)]
        if len(matches) > 1:
            raise ConfigError(
                f"{folder}: more than one file could be the {role.replace('_', ' ')}: "
                f"{', '.join(m.name for m in matches)}; keep one"
            )
        if matches:
            found[role] = matches[0]
    return found


def _complete_parts(paths: Mapping[str, Path]) -> list[str]:
    """"train" and/or "test": the parts whose images *and* labels are in ``paths``."""
    return [part for part in ("train", "test") if f"{part}_images" in paths and f"{part}_labels" in paths]


def _assemble(
    arrays: Mapping[str, np.ndarray],
    paths: Mapping[str, Path],
    *,
    name: str,
    class_names: Sequence[str] | None,
    where: str,
    notes: str,
    split_test: int | None,
    seed: int,
) -> Dataset:
    """Build a Dataset from the IDX arrays of one or both parts.

    With both parts, they are train and test as published.  With one part
    only, it is split stratified into train / ``split_test`` held out
    (default 2000) by ``np.random.default_rng(seed)``.  ``class_names`` None
    means ``"0" .. str(max label)``.
    """
    parts = _complete_parts(arrays)
    for part in parts:
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        images_path, labels_path = paths[f"{part}_images"], paths[f"{part}_labels"]
        if images.ndim < 2:
            raise FileFormatError(
                f"{images_path}: images need at least 2 dimensions (n_samples, ...), got shape {images.shape}"
            )
        if labels.ndim != 1:
            raise FileFormatError(f"{labels_path}: labels must be 1-dimensional, got shape {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise FileFormatError(f"{labels_path}: labels must be integers, got dtype {labels.dtype}")
        if images.shape[0] != labels.shape[0]:
            raise FileFormatError(
                f"{images_path} has {images.shape[0]} images but {labels_path} has {labels.shape[0]} labels"
            )
        if images.shape[0] == 0:
            raise DataError(f"{images_path}: no samples: the file holds 0 images (shape {images.shape})")
    images = arrays[f"{parts[0]}_images"]
    if len(parts) == 2 and arrays["test_images"].shape[1:] != images.shape[1:]:
        raise FileFormatError(
            f"{where}: train images are {images.shape[1:]} but test images are {arrays['test_images'].shape[1:]}"
        )
    if class_names is None:
        n_classes = max(int(arrays[f"{part}_labels"].max(initial=0)) for part in parts) + 1
        class_names = [str(label) for label in range(n_classes)]
    file_list = ", ".join(paths[role].name for role in ROLES if role in arrays)

    def flat(role: str) -> np.ndarray:
        return arrays[role].reshape(arrays[role].shape[0], -1)

    if len(parts) == 2:
        X_train, y_train = flat("train_images"), arrays["train_labels"].astype(np.int64)
        X_test, y_test = flat("test_images"), arrays["test_labels"].astype(np.int64)
        source = f"{where}: {file_list} ({notes})"
    else:
        part = parts[0]
        n_test = HOLDOUT_TEST_SIZE if split_test is None else split_test
        labels = arrays[f"{part}_labels"].astype(np.int64)
        X_train, y_train, X_test, y_test = train_test_split_stratified(
            flat(f"{part}_images"), labels, n_test, np.random.default_rng(seed)
        )
        source = (
            f"{where} holds only the {'training' if part == 'train' else 'test'} files ({file_list}; {notes}); "
            f"their {len(labels)} samples were split stratified into {len(y_train)} train / "
            f"{len(y_test)} held out (seed {seed})"
        )
    return Dataset(
        X_train,
        y_train,
        X_test,
        y_test,
        class_names=list(class_names),
        name=name,
        source=source,
        image_shape=tuple(int(size) for size in images.shape[1:]),
        pixel_max=255.0 if images.dtype == np.uint8 else None,
    )


# --------------------------------------------------------------------------- loaders


def _load_digits(n_test: int, seed: int) -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise DatasetNotFoundError(
            'the "digits" dataset comes from scikit-learn, which is not installed; '
            'install it with: pip install "glassnet[digits]"'
        ) from error
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # integer intensities 0..16, exact in uint8
    labels = bunch.target.astype(np.int64)
    X_train, y_train, X_test, y_test = train_test_split_stratified(
        images.reshape(len(images), -1), labels, n_test, np.random.default_rng(seed)
    )
    return Dataset(
        X_train,
        y_train,
        X_test,
        y_test,
        class_names=[str(digit) for digit in range(10)],
        name="digits",
        source=(
            f"scikit-learn load_digits ({len(labels)} samples of 8x8), stratified split "
            f"{len(y_train)} train / {len(y_test)} test (seed {seed})"
        ),
        image_shape=(8, 8),
        pixel_max=16.0,
    )


def _identify(paths: Mapping[str, Path], arrays: Mapping[str, np.ndarray]) -> DatasetSpec | None:
    """The named dataset whose published md5s all the files match, if any."""
    md5s = {
        role: _hexdigests(idx_bytes(arrays[role]), ["md5"]) | _file_digests(path, ["md5"])
        for role, path in paths.items()
    }
    for spec in DATASETS.values():
        if spec.files and all(md5s[role] & spec.file(role).digests for role in paths):
            return spec
    return None


def _load_folder(folder: Path, split_test: int | None, seed: int) -> Dataset:
    found = _folder_files(folder)
    parts = _complete_parts(found)
    if not parts:
        listing = ", ".join(path.name for path in found.values()) or "no IDX files"
        raise DatasetNotFoundError(
            f"{folder}: no complete pair of IDX image and label files (found: {listing}); expected "
            "train-images*/train-labels* and/or t10k-images*/t10k-labels* (or test-images*/test-labels*), "
            "gzip-compressed or not"
        )
    paths = {role: path for role, path in found.items() if role.split("_")[0] in parts}
    arrays = {role: read_idx(path) for role, path in paths.items()}
    spec = _identify(paths, arrays)
    return _assemble(
        arrays,
        paths,
        name=spec.name if spec else (folder.name or str(folder)),
        class_names=spec.class_names if spec else None,
        where=str(folder),
        notes=f"files match the published {spec.name} checksums" if spec else "not a known dataset's checksums",
        split_test=split_test,
        seed=seed,
    )


def _load_named_files(
    spec: DatasetSpec,
    paths: Mapping[str, Path],
    where: str,
    *,
    verify: bool,
    digests: Mapping[str, frozenset[str]],
    split_test: int | None = None,
    seed: int = DEFAULT_SPLIT_SEED,
) -> Dataset:
    arrays, notes = {}, set()
    for role, path in paths.items():
        if verify:
            arrays[role], note = _read_verified(path, digests[role])
            notes.add(note)
        else:
            arrays[role] = read_idx(path)
    if not verify:
        notes.add("checksums not checked (verify=False)")
    return _assemble(
        arrays,
        paths,
        name=spec.name,
        class_names=spec.class_names,
        where=f"{spec.title} from {where}",
        notes="; ".join(sorted(notes)),
        split_test=split_test,
        seed=seed,
    )


def _file_url(base: str, name: str, filename: str) -> str:
    base = base.replace("{name}", name)
    return base + filename if base.endswith("/") else f"{base}/{filename}"


def _load_named(
    spec: DatasetSpec,
    *,
    data_dir: Path | None,
    env_data: str | None,
    cache_root: Path,
    mirrors: Sequence[str],
    digests: Mapping[str, frozenset[str]],
    download: bool,
    verify: bool,
    progress: bool,
    timeout: float,
    split_test: int | None,
    seed: int,
) -> Dataset:
    """A named IDX dataset from the first place that has it, in the documented look-up order:
    ``data_dir``, ``$GLASSNET_DATA``, the user cache, the system folders, then a download."""
    cache = cache_root / spec.name
    load = dict(verify=verify, digests=digests, split_test=split_test, seed=seed)
    looked: list[str] = []
    if data_dir is not None:
        found = _from_data_dir(spec, data_dir, load, looked)
        if found is not None:
            return found
    found = _from_known_places(spec, env_data, cache, load, looked)
    if found is not None:
        return found

    looked_text = "\n".join(f"  - {line}" for line in looked)
    how_text = _how_to_get(spec, cache, mirrors)
    if not download or not mirrors:
        reason = "downloading is off (download=False)" if not download else "no mirror is configured"
        raise DatasetNotFoundError(
            f"dataset {spec.name!r} not found, and {reason}. Looked in:\n{looked_text}\nTo get it:\n{how_text}"
        )
    failures = _download_missing(spec, cache, mirrors, digests, verify=verify, timeout=timeout, progress=progress)
    if failures:
        attempts = [attempt for error in failures for attempt in getattr(error, "attempts", [])]
        errors_text = "\n".join(str(error) for error in failures)
        if attempts and all(_is_unreachable(error) for _, error in attempts):
            raise DatasetNotFoundError(
                f"dataset {spec.name!r} not found, and no mirror could be reached (offline?). Looked in:\n"
                f"{looked_text}\n{errors_text}\nTo get it:\n{how_text}"
            )
        raise DownloadError(f"dataset {spec.name!r}: download failed.\n{errors_text}\nTo get it by hand:\n{how_text}")
    paths = {idx_file.role: cache / idx_file.filename for idx_file in spec.files}
    dataset = _load_named_files(spec, paths, f"{cache} (user cache)", **load)
    dataset.source += f"; downloaded from {', '.join(mirrors)}"
    return dataset


def _from_data_dir(spec: DatasetSpec, data_dir: Path, load: dict[str, Any], looked: list[str]) -> Dataset | None:
    """The dataset from the folder the caller named (or its ``<name>/`` sub-folder), used as it is:
    all four files, or one split alone (e.g. only the t10k files), which is then split in two.
    None if neither folder has a complete pair; what was missing is appended to ``looked``."""
    for folder in (data_dir / spec.name, data_dir):
        found = _named_files_in(folder, spec) if folder.is_dir() else {}
        if len(found) == len(ROLES):
            return _load_named_files(spec, found, f"{folder} (data_dir)", **load)
    for folder in (data_dir / spec.name, data_dir):
        found = _named_files_in(folder, spec) if folder.is_dir() else {}
        parts = _complete_parts(found)
        if parts:
            pair = {role: path for role, path in found.items() if role.split("_")[0] == parts[0]}
            return _load_named_files(spec, pair, f"{folder} (data_dir)", **load)
        missing = [spec.file(role).filename for role in ROLES if role not in found]
        state = f"missing {', '.join(missing)}" if folder.is_dir() else "no such folder"
        looked.append(f"{folder} (data_dir): {state}")
    return None


def _from_known_places(
    spec: DatasetSpec, env_data: str | None, cache: Path, load: dict[str, Any], looked: list[str]
) -> Dataset | None:
    """The dataset from ``$GLASSNET_DATA/<name>``, the user cache or a system folder (all four
    files needed), or None; each place tried is appended to ``looked``.  A cached copy that fails
    its checksum is skipped (the download replaces it); a bad copy anywhere else is an error."""
    candidates: list[tuple[Path, str]] = []
    if env_data:
        candidates.append((Path(env_data).expanduser() / spec.name, "$GLASSNET_DATA"))
    else:
        looked.append("$GLASSNET_DATA: not set")
    candidates.append((cache, "user cache"))
    candidates += [(Path(folder), "system location") for folder in spec.system_dirs]
    for folder, label in candidates:
        if not folder.is_dir():
            looked.append(f"{folder} ({label}): no such folder")
            continue
        found = _named_files_in(folder, spec)
        if len(found) == len(ROLES):
            try:
                return _load_named_files(spec, found, f"{folder} ({label})", **load)
            except FileFormatError as error:
                if folder != cache:
                    raise
                looked.append(f"{folder} ({label}): {error}")
                continue
        missing = [spec.file(role).filename for role in ROLES if role not in found]
        looked.append(f"{folder} ({label}): missing {', '.join(missing)}")
    return None


def _how_to_get(spec: DatasetSpec, cache: Path, mirrors: Sequence[str]) -> str:
    """The lines of a "to get it" message: the files' URLs, other mirrors, the install hint."""
    urls_text = "\n".join(f"    {_file_url(mirrors[0], spec.name, f.filename)}" for f in spec.files) if mirrors else ""
    how = [
        f"  - download these files into {cache}/ or $GLASSNET_DATA/{spec.name}/ "
        f"(or pass data_dir=the folder holding them):\n{urls_text}"
    ]
    if len(mirrors) > 1:
        how.append("    (other mirrors: " + ", ".join(mirrors[1:]) + ")")
    if spec.install_hint:
        how.append(f"  - or: {spec.install_hint}")
    return "\n".join(how)


def _download_missing(
    spec: DatasetSpec,
    cache: Path,
    mirrors: Sequence[str],
    digests: Mapping[str, frozenset[str]],
    *,
    verify: bool,
    timeout: float,
    progress: bool,
) -> list[DownloadError]:
    """Download into ``cache`` every file not already there intact; the failures, if any.

    Stops early when no mirror answers at all: the other files would only wait for the same timeouts.
    """
    failures: list[DownloadError] = []
    for idx_file in spec.files:
        path = cache / idx_file.filename
        if path.is_file():
            try:
                if verify:
                    _read_verified(path, digests[idx_file.role])
                else:
                    read_idx(path)
                continue
            except FileFormatError:
                pass  # a corrupt cached copy: download it again
        try:
            download_file(
                [_file_url(base, spec.name, idx_file.filename) for base in mirrors],
                path,
                digests=digests[idx_file.role] if verify else (),
                timeout=timeout,
                progress=progress,
            )
        except DownloadError as error:
            failures.append(error)
            if all(_is_unreachable(exc) for _, exc in getattr(error, "attempts", [("", error)])):
                break
    return failures


def _parse_mirrors(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    for url in items:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
            raise ConfigError(f"a mirror must be an http://, https:// or file:// URL, got {url!r}")
    return tuple(items)


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
    mirrors: str | Sequence[str] | None = None,
    checksums: Mapping[str, str | Iterable[str]] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    split_test: int | None = None,
    split_seed: int = DEFAULT_SPLIT_SEED,
    timeout: float = DEFAULT_TIMEOUT,
) -> Dataset:
    """Load a dataset by name (``digits``, ``mnist``, ``fashion-mnist``, ``kmnist``) or folder path.

    name_or_path : a name from ``DATASET_NAMES`` (case-insensitive), or a
        folder of IDX files (a ``Path``, or a string that is not a name).
    data_dir : a folder searched first for a named dataset (see the module
        docstring for the whole look-up order).
    download : fetch a missing named dataset from its mirrors into the cache.
    progress : show a download progress bar (only on a terminal).
    mirrors : base URLs replacing the dataset's own (a string may hold several,
        separated by spaces or commas; ``{name}`` is replaced by the dataset
        name).  Defaults to ``$GLASSNET_MIRROR`` when set.
    checksums : ``{filename: digest or digests}`` replacing the known
        checksums of the files named (md5 or sha256 hex, of the raw file or of
        its decompressed content), e.g. for a private mirror.
    cache_dir : the cache root (default ``$XDG_CACHE_HOME/glassnet`` or
        ``~/.cache/glassnet``); the dataset goes in ``cache_dir/<name>/``.
    verify : check named datasets' checksums (the IDX structure is always checked).
    split_test : test-set size for data without its own test set: digits
        (default 360 of 1797), and a folder (a path, or an explicit
        ``data_dir``) holding only one split, e.g. only MNIST's t10k files
        (default 2000); ignored when the data has both splits.
    split_seed : seed of the ``np.random.Generator`` that draws that split.
    timeout : seconds a download may wait on the network before giving up on a mirror.

    Raises DatasetNotFoundError (not on disk and not downloadable; the
    message says where it looked and how to get the files), DownloadError
    (a mirror answered but the file was bad), FileFormatError (a file on disk
    is corrupt or fails its checksum) or ConfigError (bad arguments).
    """
    # The environment is read here, once; everything below gets plain values.
    environ = os.environ
    if mirrors is None and environ.get("GLASSNET_MIRROR"):
        mirrors = environ["GLASSNET_MIRROR"]
    env_data = environ.get("GLASSNET_DATA") or None
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(environ)

    if split_test is not None and (isinstance(split_test, bool) or not isinstance(split_test, (int, np.integer))):
        raise ConfigError(f"split_test must be an integer number of samples, got {split_test!r}")
    name = _canonical_name(name_or_path) if isinstance(name_or_path, str) else None
    if name is None:
        if data_dir is not None:
            raise ConfigError("data_dir is used only with a dataset name; pass the folder itself instead")
        folder = Path(name_or_path).expanduser()
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"{str(name_or_path)!r} is neither a known dataset ({', '.join(DATASET_NAMES)}) nor a folder"
            )
        return _load_folder(folder, split_test, split_seed)
    spec = DATASETS[name]
    if spec.load is not None:  # built by a library, no files to find (data_dir and checksums do not apply)
        return spec.load(split_test, split_seed)
    digests = {idx_file.role: idx_file.digests for idx_file in spec.files}
    for filename, value in (checksums or {}).items():
        role = next((f.role for f in spec.files if filename in (f.filename, f.stem, f.role)), None)
        if role is None:
            raise ConfigError(
                f"checksums: {filename!r} is not a file of {spec.name}; expected one of "
                + ", ".join(f.filename for f in spec.files)
            )
        digests[role] = frozenset([value] if isinstance(value, str) else value)
    return _load_named(
        spec,
        data_dir=Path(data_dir).expanduser() if data_dir is not None else None,
        env_data=env_data,
        cache_root=cache_root,
        mirrors=_parse_mirrors(mirrors) if mirrors is not None else spec.mirrors,
        digests=digests,
        download=download,
        verify=verify,
        progress=progress,
        timeout=timeout,
        split_test=split_test,
        seed=split_seed,
    )

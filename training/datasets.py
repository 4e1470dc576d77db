"""Data sets: one entry point, `load_dataset`, returning train / validation / test splits.

Every split yields `(float tensor of shape (C, H, W), int label)`. The validation split is carved from the
training data with a seeded permutation; the test split is the data set's own test set, or (for `digits` and
ImageFolders without `test/`) a fixed split that does not depend on `seed`, so test accuracies stay comparable
across seeds.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from training.transforms import (
    LARGE_IMAGE_SIZE,
    SMALL_IMAGE_MAX,
    large_image_transform,
    small_image_transform,
)

DEFAULT_DATA_DIR = "~/.cache/nago/data"
# Fraction and seed of the test split carved off when a data set has no test set of its own. The seed is fixed
# (not the caller's `seed`) so that every run is judged on the same test images.
TEST_FRACTION = 0.2
TEST_SPLIT_SEED = 0
MAX_VAL_FRACTION = 0.9

IMAGEFOLDER_PREFIX = "imagefolder:"
# ImageNet statistics: a sound default for arbitrary photographs in an ImageFolder.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DatasetUnavailableError(ValueError):
    """The data set's files are absent and could not be downloaded.

    A ValueError so that the CLI reports it as a one-line error.
    """


@dataclass(frozen=True)
class _Info:
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool  # horizontal flips keep the label (not for digits, where a flip changes meaning)


_INFO: dict[str, _Info] = {
    # Mean/std of the pixels scaled to [0, 1], over the whole data set.
    "digits": _Info((1, 8, 8), 10, (0.3053,), (0.3760,), flip=False),
    "cifar10": _Info((3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), flip=True),
    "cifar100": _Info((3, 32, 32), 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), flip=True),
    "mnist": _Info((1, 28, 28), 10, (0.1307,), (0.3081,), flip=False),
    "fashion-mnist": _Info((1, 28, 28), 10, (0.2860,), (0.3530,), flip=False),
    "svhn": _Info((3, 32, 32), 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), flip=False),
}
DATASET_NAMES = tuple(_INFO) + (IMAGEFOLDER_PREFIX + "<path>",)


@dataclass
class DatasetBundle:
    """The splits of one data set. `val` is None when `val_fraction` was 0 (callers then use `test`)."""

    name: str
    train: Dataset
    val: Dataset | None
    test: Dataset
    input_shape: tuple[int, int, int]
    num_classes: int


class SplitDataset(Dataset):
    """A subset of `base` (given by `indices`) with its own transform.

    `base[i]` returns `(image, label)` where the image is a tensor or a PIL image; the transform turns it into a
    normalised float tensor. Train and validation share one base but differ in their transforms.
    """

    def __init__(self, base: Any, indices: np.ndarray, transform: Callable | None) -> None:
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image, label = self.base[int(self.indices[i])]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(label)


class _TensorImages(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


def load_dataset(
    name: str,
    data_dir: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    augment: bool = True,
    cutout: int = 0,
    limit: int | None = None,
) -> DatasetBundle:
    """Load a data set by name and split it into train / validation / test.

    name: `digits` (scikit-learn's 8x8 digits, built in, no download), `cifar10`, `cifar100`, `mnist`,
      `fashion-mnist`, `svhn` (torchvision; downloaded into `data_dir` when absent), or `imagefolder:<path>`
      (`<path>/train/<class>/*` and optionally `<path>/test/<class>/*`). A named torchvision data set whose
      `data_dir` (or `data_dir/<name>`) holds `train/` and `test/` class folders is read as an ImageFolder.
    data_dir: where torchvision data sets live; default `~/.cache/nago/data`.
    val_fraction: fraction of the training data held out for validation, in [0, 0.9]; 0 means `val` is None.
    seed: seeds the train/validation permutation.
    augment: padded random crop (+ horizontal flip where it keeps the label) on the training split.
    cutout: side of the cutout square on the training split (0 = off).
    limit: keep only the first `limit` training examples after the split (fast tests and benchmarks).
    """
    _check_args(name, val_fraction, seed, cutout, limit)
    root = Path(os.path.expanduser(data_dir if data_dir is not None else DEFAULT_DATA_DIR))
    if name == "digits":
        bundle = _load_digits(val_fraction, seed, augment, cutout)
    elif name.startswith(IMAGEFOLDER_PREFIX):
        path = Path(os.path.expanduser(name[len(IMAGEFOLDER_PREFIX) :]))
        bundle = _load_imagefolder(name, path, None, val_fraction, seed, augment, cutout)
    else:
        folder = _find_imagefolder_copy(root, name)
        if folder is not None:
            bundle = _load_imagefolder(name, folder, _INFO[name], val_fraction, seed, augment, cutout)
        else:
            bundle = _load_torchvision(name, root, val_fraction, seed, augment, cutout)
    if limit is not None:
        train = bundle.train
        assert isinstance(train, SplitDataset)
        train.indices = train.indices[:limit]
    return bundle


def _check_args(name: str, val_fraction: float, seed: int, cutout: int, limit: int | None) -> None:
    if not isinstance(name, str) or not (name in _INFO or name.startswith(IMAGEFOLDER_PREFIX)):
        raise ValueError(f"dataset: must be one of {', '.join(DATASET_NAMES)}, got {name!r}")
    if name.startswith(IMAGEFOLDER_PREFIX) and not name[len(IMAGEFOLDER_PREFIX) :]:
        raise ValueError("dataset: 'imagefolder:' needs a path, e.g. 'imagefolder:/data/sport8'")
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, (int, float))
        or not (0.0 <= val_fraction <= MAX_VAL_FRACTION)
    ):
        raise ValueError(f"val_fraction: must be a number in [0, {MAX_VAL_FRACTION}], got {val_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    if isinstance(cutout, bool) or not isinstance(cutout, (int, np.integer)) or cutout < 0:
        raise ValueError(f"cutout: must be an integer >= 0 (0 = off), got {cutout!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit: must be None or an integer >= 1, got {limit!r}")


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of range(n) into (kept, held_out); held_out has round(n * fraction) items, at least 1
    when fraction > 0. Both keep the permutation's order, so a prefix of `kept` is a random sample."""
    perm = np.random.default_rng(seed).permutation(n)
    n_out = 0 if fraction <= 0 else min(n - 1, max(1, round(n * fraction)))
    return perm[n_out:], perm[:n_out]


def _make_splits(
    name: str,
    train_base: Any,
    test_base: Any,
    test_indices: np.ndarray,
    train_pool: np.ndarray,
    info: _Info,
    val_fraction: float,
    seed: int,
    train_tf: Callable,
    eval_tf: Callable,
) -> DatasetBundle:
    kept, held = split_indices(len(train_pool), val_fraction, seed)
    train = SplitDataset(train_base, train_pool[kept], train_tf)
    val = SplitDataset(train_base, train_pool[held], eval_tf) if val_fraction > 0 else None
    test = SplitDataset(test_base, test_indices, eval_tf)
    return DatasetBundle(name, train, val, test, info.input_shape, info.num_classes)


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images (1797, 8, 8) with values 0..16, labels (1797,)).

    Reads the CSV that ships inside scikit-learn, as `sklearn.datasets.load_digits` does, but without importing
    scikit-learn (several seconds); falls back to `load_digits` if the file is not where expected.
    """
    spec = importlib.util.find_spec("sklearn")  # locates the package without executing it
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target.astype(np.int64)


def _load_digits(val_fraction: float, seed: int, augment: bool, cutout: int) -> DatasetBundle:
    pixels, labels = digits_arrays()
    images = torch.tensor(pixels / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    base = _TensorImages(images, torch.from_numpy(labels))
    pool, test_idx = split_indices(len(base), TEST_FRACTION, TEST_SPLIT_SEED)
    info = _INFO["digits"]
    size = info.input_shape[1]
    kw = {"flip": info.flip, "cutout": cutout, "from_pil": False}
    train_tf = small_image_transform(size, info.mean, info.std, augment=augment, **kw)
    eval_tf = small_image_transform(size, info.mean, info.std, augment=False, **kw)
    return _make_splits("digits", base, base, test_idx, pool, info, val_fraction, seed, train_tf, eval_tf)


# --- ImageFolder -----------------------------------------------------------------------------------------


def _has_class_folders(path: Path) -> bool:
    return path.is_dir() and any(p.is_dir() for p in path.iterdir())


def _find_imagefolder_copy(root: Path, name: str) -> Path | None:
    for candidate in (root, root / name):
        if _has_class_folders(candidate / "train") and _has_class_folders(candidate / "test"):
            return candidate
    return None


def _load_imagefolder(
    name: str,
    path: Path,
    info: _Info | None,
    val_fraction: float,
    seed: int,
    augment: bool,
    cutout: int,
) -> DatasetBundle:
    from PIL import Image
    from torchvision.datasets import ImageFolder

    if not _has_class_folders(path / "train"):
        raise ValueError(f"dataset: {name!r}: {path / 'train'} must be a folder of class subfolders")
    train_base = ImageFolder(str(path / "train"))
    if info is not None and len(train_base.classes) != info.num_classes:
        raise ValueError(
            f"data_dir: {path} looks like an ImageFolder copy of {name} but has "
            f"{len(train_base.classes)} classes, not {info.num_classes}"
        )
    if _has_class_folders(path / "test"):
        test_base = ImageFolder(str(path / "test"))
        if test_base.classes != train_base.classes:
            raise ValueError(f"dataset: {name!r}: the classes of {path / 'test'} must be those of train/")
        pool, test_idx = np.arange(len(train_base)), np.arange(len(test_base))
    else:
        test_base = train_base
        pool, test_idx = split_indices(len(train_base), TEST_FRACTION, TEST_SPLIT_SEED)
        pool = np.asarray(pool)

    if info is not None:  # a named data set: its own statistics and shape
        channels, size = info.input_shape[0], info.input_shape[1]
        mean, std, flip = info.mean, info.std, info.flip
    else:
        with Image.open(train_base.samples[0][0]) as first:  # the first image decides the size regime
            width, height = first.size
        channels, mean, std, flip = 3, IMAGENET_MEAN, IMAGENET_STD, True
        size = width if width == height and width <= SMALL_IMAGE_MAX else LARGE_IMAGE_SIZE
        info = _Info((channels, size, size), len(train_base.classes), mean, std, flip)

    grayscale = channels == 1  # ImageFolder's loader converts to RGB
    if size <= SMALL_IMAGE_MAX:
        kw = {"flip": flip, "cutout": cutout, "from_pil": True, "grayscale": grayscale}
        train_tf = small_image_transform(size, mean, std, augment=augment, **kw)
        eval_tf = small_image_transform(size, mean, std, augment=False, **kw)
    else:
        kw = {"flip": flip, "cutout": cutout, "grayscale": grayscale}
        train_tf = large_image_transform(size, mean, std, augment=augment, **kw)
        eval_tf = large_image_transform(size, mean, std, augment=False, **kw)
    return _make_splits(name, train_base, test_base, test_idx, pool, info, val_fraction, seed, train_tf, eval_tf)


# --- torchvision -----------------------------------------------------------------------------------------


def _torchvision_pair(name: str) -> tuple[Callable[..., Any], dict, dict]:
    """(dataset class, kwargs for the training set, kwargs for the test set)."""
    from torchvision import datasets

    if name == "svhn":
        return datasets.SVHN, {"split": "train"}, {"split": "test"}
    cls = {
        "cifar10": datasets.CIFAR10,
        "cifar100": datasets.CIFAR100,
        "mnist": datasets.MNIST,
        "fashion-mnist": datasets.FashionMNIST,
    }[name]
    return cls, {"train": True}, {"train": False}


def _open_torchvision(name: str, cls: Callable[..., Any], root: Path, **kwargs: Any) -> Any:
    """Open a torchvision data set from `root`; download it only when its files are not there."""
    try:
        return cls(str(root), download=False, **kwargs)
    except RuntimeError:
        pass  # files absent or corrupt: try the download below
    try:
        root.mkdir(parents=True, exist_ok=True)
        return cls(str(root), download=True, **kwargs)
    except Exception as exc:  # network errors come in many types (URLError, OSError, RuntimeError, ...)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetUnavailableError(
            f"dataset: {name}'s files are not under {root} and the download failed ({detail}); "
            f"put the data set there (or pass data_dir=...) or connect to the internet"
        ) from exc


def _load_torchvision(
    name: str, root: Path, val_fraction: float, seed: int, augment: bool, cutout: int
) -> DatasetBundle:
    cls, train_kw, test_kw = _torchvision_pair(name)
    train_base = _open_torchvision(name, cls, root, **train_kw)
    test_base = _open_torchvision(name, cls, root, **test_kw)
    info = _INFO[name]
    size = info.input_shape[1]
    kw = {"flip": info.flip, "cutout": cutout, "from_pil": True}
    train_tf = small_image_transform(size, info.mean, info.std, augment=augment, **kw)
    eval_tf = small_image_transform(size, info.mean, info.std, augment=False, **kw)
    pool, test_idx = np.arange(len(train_base)), np.arange(len(test_base))
    return _make_splits(name, train_base, test_base, test_idx, pool, info, val_fraction, seed, train_tf, eval_tf)

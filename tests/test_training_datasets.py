"""Tests of training.datasets: digits (built in), ImageFolders, torchvision loaders, and the shared real data."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from training import DatasetUnavailableError, load_dataset
from training.transforms import Cutout, crop_padding

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
CIFAR_TAR = SHARED_DATA / "cifar10" / "cifar10-jpeg.tar.gz"


def _indices(ds) -> set[int]:
    return set(ds.indices.tolist())


def _transform_names(ds) -> list[str]:
    return [type(t).__name__ for t in ds.transform.transforms]


# --- digits ----------------------------------------------------------------------------------------------


def test_digits_shapes_and_classes():
    b = load_dataset("digits")
    assert b.name == "digits"
    assert b.input_shape == (1, 8, 8)
    assert b.num_classes == 10
    assert len(b.train) + len(b.val) + len(b.test) == 1797
    assert len(b.test) == round(1797 * 0.2)
    assert len(b.val) == round((1797 - len(b.test)) * 0.1)
    x, y = b.train[0]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (1, 8, 8)
    assert isinstance(y, int) and 0 <= y < 10
    labels = {b.test[i][1] for i in range(len(b.test))}
    assert labels == set(range(10))
    # normalised: the evaluation images have roughly zero mean and unit variance
    test_images = torch.stack([b.test[i][0] for i in range(len(b.test))])
    assert abs(test_images.mean().item()) < 0.15
    assert 0.8 < test_images.std().item() < 1.2


def test_digits_splits_are_disjoint_and_cover_everything():
    b = load_dataset("digits", val_fraction=0.2, seed=3)
    train, val, test = _indices(b.train), _indices(b.val), _indices(b.test)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(range(1797))


def test_digits_splits_are_seeded():
    a, a2, c = load_dataset("digits", seed=1), load_dataset("digits", seed=1), load_dataset("digits", seed=2)
    assert np.array_equal(a.train.indices, a2.train.indices)
    assert np.array_equal(a.val.indices, a2.val.indices)
    assert _indices(a.val) != _indices(c.val)
    # the test split is fixed: every seed is judged on the same images
    assert np.array_equal(a.test.indices, c.test.indices)


def test_val_fraction_zero_means_no_validation_set():
    b = load_dataset("digits", val_fraction=0)
    assert b.val is None
    assert len(b.train) + len(b.test) == 1797


def test_limit_keeps_the_first_training_examples():
    full = load_dataset("digits", seed=5)
    small = load_dataset("digits", seed=5, limit=50)
    assert len(small.train) == 50
    assert np.array_equal(small.train.indices, full.train.indices[:50])
    assert np.array_equal(small.val.indices, full.val.indices)
    # a prefix of a random permutation, not the first images of the file
    assert len({small.train[i][1] for i in range(50)}) >= 8


def test_augmentation_only_on_the_training_split():
    b = load_dataset("digits", cutout=3)
    names = _transform_names(b.train)
    assert names == ["RandomCrop", "Normalize", "Cutout"]  # no flip: a flipped digit changes meaning
    assert b.train.transform.transforms[0].padding == 1
    assert _transform_names(b.val) == ["Normalize"] and _transform_names(b.test) == ["Normalize"]
    torch.manual_seed(0)
    views = torch.stack([b.train[0][0] for _ in range(20)])
    assert (views != views[0]).any(), "the training view should change from call to call"
    assert torch.equal(b.val[0][0], b.val[0][0])
    plain = load_dataset("digits", augment=False)
    assert _transform_names(plain.train) == ["Normalize"]


def test_crop_padding_scales_with_size():
    assert crop_padding(32) == 4
    assert crop_padding(8) == 1
    assert crop_padding(28) == 4


def test_cutout_zeroes_a_clipped_square():
    torch.manual_seed(0)
    for _ in range(50):
        out = Cutout(4)(torch.ones(2, 8, 8))
        zeros = out[0] == 0
        assert torch.equal(zeros, out[1] == 0)  # the same square on every channel
        rows, cols = zeros.any(1).nonzero().flatten(), zeros.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
        assert zeros.sum() == len(rows) * len(cols)  # a full rectangle
    assert torch.equal(Cutout(0)(torch.ones(1, 4, 4)), torch.ones(1, 4, 4))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "imagenet"}, "dataset"),  # the user's word (`--dataset`), not the argument's name
        ({"name": "imagefolder:"}, "dataset"),
        ({"name": "digits", "val_fraction": 0.95}, "val_fraction"),
        ({"name": "digits", "val_fraction": -0.1}, "val_fraction"),
        ({"name": "digits", "cutout": -1}, "cutout"),
        ({"name": "digits", "limit": 0}, "limit"),
        ({"name": "digits", "seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError) as err:
        load_dataset(**kwargs)
    message = str(err.value)
    assert message.startswith(field + ":") and "\n" not in message


def test_unknown_name_lists_the_allowed_names():
    with pytest.raises(ValueError, match="cifar10.*imagefolder:<path>"):
        load_dataset("cifar11")


# --- torchvision: download only when absent, one-line error when that fails -----------------------------


class _FakeTorchvision:
    """Stands in for a torchvision data set class; subclasses set their own `calls` list and `present`."""

    calls: ClassVar[list[bool]] = []
    present: ClassVar[bool] = False

    def __init__(self, root, train=True, download=False):
        type(self).calls.append(download)
        if download:
            raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>\nsecond line")
        if not type(self).present:
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
        self.data = [(Image.new("RGB", (32, 32), (i, i, i)), i % 100) for i in range(20)]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i]


def test_missing_torchvision_data_gives_a_one_line_error(monkeypatch, tmp_path):
    fake = type("FakeCIFAR100", (_FakeTorchvision,), {"calls": [], "present": False})
    monkeypatch.setattr(torchvision.datasets, "CIFAR100", fake)
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset("cifar100", data_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and message.startswith("dataset: cifar100") and str(tmp_path) in message
    assert "name resolution" in message
    assert fake.calls == [False, True]  # looked for the files first, then tried the download
    assert isinstance(err.value, ValueError)


def test_present_torchvision_data_is_not_downloaded(monkeypatch, tmp_path):
    fake = type("FakeCIFAR100", (_FakeTorchvision,), {"calls": [], "present": True})
    monkeypatch.setattr(torchvision.datasets, "CIFAR100", fake)
    b = load_dataset("cifar100", data_dir=str(tmp_path), val_fraction=0.25)
    assert fake.calls == [False, False]  # train and test, never a download
    assert (len(b.train), len(b.val), len(b.test)) == (15, 5, 20)
    assert b.input_shape == (3, 32, 32) and b.num_classes == 100
    assert b.train[0][0].shape == (3, 32, 32)
    assert "RandomHorizontalFlip" in _transform_names(b.train)


# --- ImageFolder -----------------------------------------------------------------------------------------


def _make_folder(root: Path, classes: list[str], per_class: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.png")


def test_imagefolder_without_test_split_carves_a_fixed_one(tmp_path):
    _make_folder(tmp_path / "train", ["a", "b", "c"], 10, (12, 12))
    b = load_dataset(f"imagefolder:{tmp_path}", seed=1)
    b2 = load_dataset(f"imagefolder:{tmp_path}", seed=2)
    assert b.input_shape == (3, 12, 12) and b.num_classes == 3
    assert len(b.test) == 6 and len(b.train) + len(b.val) == 24
    assert np.array_equal(b.test.indices, b2.test.indices)
    assert not _indices(b.test) & (_indices(b.train) | _indices(b.val))
    x, y = b.train[0]
    assert x.shape == (3, 12, 12) and y in (0, 1, 2)
    assert b.test[0][0].shape == (3, 12, 12)


def test_imagefolder_with_test_folder_and_large_images(tmp_path):
    _make_folder(tmp_path / "train", ["x", "y"], 4, (100, 80))
    _make_folder(tmp_path / "test", ["x", "y"], 2, (90, 120))
    b = load_dataset(f"imagefolder:{tmp_path}", val_fraction=0.25)
    assert b.input_shape == (3, 224, 224) and b.num_classes == 2
    assert (len(b.train), len(b.val), len(b.test)) == (6, 2, 4)
    assert b.train[0][0].shape == (3, 224, 224)
    assert b.test[0][0].shape == (3, 224, 224)


def test_imagefolder_without_train_folder_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="dataset:.*train"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_named_dataset_as_imagefolder_copy(tmp_path):
    classes = [f"c{i}" for i in range(10)]
    _make_folder(tmp_path / "train", classes, 2, (32, 32))
    _make_folder(tmp_path / "test", classes, 1, (32, 32))
    b = load_dataset("cifar10", data_dir=str(tmp_path), val_fraction=0.1)
    assert b.input_shape == (3, 32, 32) and b.num_classes == 10
    assert len(b.train) + len(b.val) == 20 and len(b.test) == 10
    assert b.train[0][0].shape == (3, 32, 32)
    crop = next(t for t in b.train.transform.transforms if type(t).__name__ == "RandomCrop")
    assert crop.padding == 4
    with pytest.raises(ValueError, match="data_dir:.*100"):
        load_dataset("cifar100", data_dir=str(tmp_path))


# --- the shared real data (skipped where ../shared/data is absent) -----------------------------------------


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    if not all((SHARED_DATA / "mnist" / f).is_file() for f in MNIST_FILES):
        pytest.skip(f"MNIST idx files not found under {SHARED_DATA / 'mnist'}")
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        with gzip.open(SHARED_DATA / "mnist" / name, "rb") as src, open(raw / name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


# Extracting all 60,000 JPEGs (and deleting them again) costs seconds of disk time per run; the first
# CIFAR_PER_CLASS images of every class and split keep the real archive, layout and decoding under test.
CIFAR_PER_CLASS = 50
CIFAR_MEMBER = re.compile(r"cifar10-jpg/(train|test)/[^/]+/00[0-4][0-9]\.jpg")


@pytest.fixture(scope="session")
def cifar10_jpeg_root(tmp_path_factory) -> Path:
    if not CIFAR_TAR.is_file():
        pytest.skip(f"CIFAR-10 JPEG archive not found at {CIFAR_TAR}")
    root = tmp_path_factory.mktemp("cifar10")
    if shutil.which("tar"):  # GNU tar is much faster than tarfile on 60,000 members
        pattern = "cifar10-jpg/*/*/00[0-4][0-9].jpg"
        subprocess.run(["tar", "xzf", str(CIFAR_TAR), "-C", str(root), "--wildcards", pattern], check=True)
    else:
        with tarfile.open(CIFAR_TAR) as tar:
            members = [m for m in tar if CIFAR_MEMBER.fullmatch(m.name)]
            tar.extractall(root, members=members, filter="data")
    return root / "cifar10-jpg"


def test_mnist_from_idx_files(mnist_root):
    b = load_dataset("mnist", data_dir=str(mnist_root), val_fraction=0.1)
    assert b.input_shape == (1, 28, 28) and b.num_classes == 10
    assert (len(b.train), len(b.val), len(b.test)) == (54000, 6000, 10000)
    x, y = b.train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= y < 10
    assert _transform_names(b.train) == ["Resize", "ToTensor", "RandomCrop", "Normalize"]  # no flip
    assert b.test[0][0].shape == (1, 28, 28)


def test_cifar10_from_jpeg_imagefolder(cifar10_jpeg_root):
    b = load_dataset("cifar10", data_dir=str(cifar10_jpeg_root), val_fraction=0.1, cutout=16)
    assert b.input_shape == (3, 32, 32) and b.num_classes == 10
    n = 10 * CIFAR_PER_CLASS
    assert (len(b.train), len(b.val), len(b.test)) == (n - n // 10, n // 10, n)
    assert b.train.base.classes[0] == "airplane" and b.train.base.classes[9] == "truck"  # CIFAR-10's order
    x, y = b.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= y < 10
    assert _transform_names(b.train) == [
        "Resize",
        "ToTensor",
        "RandomCrop",
        "RandomHorizontalFlip",
        "Normalize",
        "Cutout",
    ]
    assert b.test[0][0].shape == (3, 32, 32)


def test_digits_arrays_equal_scikit_learns_load_digits():
    from sklearn.datasets import load_digits

    from training.datasets import digits_arrays

    images, labels = digits_arrays()
    reference = load_digits()
    assert np.array_equal(images, reference.images)
    assert np.array_equal(labels, reference.target)

"""Image transforms for the training, validation and test splits.

Augmentation (random crop, horizontal flip, cutout) is applied to the training split only; every split is
normalised with the dataset's mean and standard deviation. torchvision is imported when a transform is built:
importing it loads its whole model zoo and torch's compiler stack, which would make every `nago --help` slow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# Images larger than this are treated as "natural photographs" (ImageFolder data sets such as SPORT8, MIT67 or
# Flowers102) and are resized to LARGE_IMAGE_SIZE; smaller ones keep their size and get a padded random crop.
SMALL_IMAGE_MAX = 64
LARGE_IMAGE_SIZE = 224


class Cutout:
    """Zero a `size` x `size` square at a uniformly random centre of a (C, H, W) tensor.

    As in DeVries & Taylor (2017) the centre may lie near a border, in which case the square is clipped and
    covers less of the image. Uses torch's global generator, which `training.train` seeds.
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return img
        _, h, w = img.shape
        cy = int(torch.randint(h, (1,)))
        cx = int(torch.randint(w, (1,)))
        y0, x0 = max(0, cy - self.size // 2), max(0, cx - self.size // 2)
        y1, x1 = min(h, cy - self.size // 2 + self.size), min(w, cx - self.size // 2 + self.size)
        img = img.clone()
        img[:, y0:y1, x0:x1] = 0.0
        return img

    def __repr__(self) -> str:
        return f"Cutout(size={self.size})"


def crop_padding(size: int) -> int:
    """Padding of the random crop, scaled with the image size: 4 for 32x32, 1 for 8x8."""
    return max(1, round(size / 8))


def small_image_transform(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    augment: bool,
    flip: bool,
    cutout: int,
    from_pil: bool,
    grayscale: bool = False,
) -> Callable:
    """Transform for small images (<= SMALL_IMAGE_MAX): padded random crop, optional flip and cutout."""
    from torchvision import transforms as T

    steps: list[Callable] = []
    if from_pil:
        if grayscale:
            steps.append(T.Grayscale(num_output_channels=1))
        # A no-op for images that already have the size (Pillow returns a copy), a guard for stray sizes.
        steps += [T.Resize((size, size)), T.ToTensor()]
    if augment:
        steps.append(T.RandomCrop(size, padding=crop_padding(size)))
        if flip:
            steps.append(T.RandomHorizontalFlip())
    steps.append(T.Normalize(mean, std))
    if augment and cutout > 0:
        steps.append(Cutout(cutout))
    return T.Compose(steps)


def large_image_transform(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    augment: bool,
    flip: bool,
    cutout: int,
    grayscale: bool = False,
) -> Callable:
    """Transform for photographs from PIL: random resized crop for training, resize + centre crop otherwise."""
    from torchvision import transforms as T

    steps: list[Callable] = [T.Grayscale(num_output_channels=1)] if grayscale else []
    if augment:
        steps.append(T.RandomResizedCrop(size, scale=(0.35, 1.0)))
        if flip:
            steps.append(T.RandomHorizontalFlip())
    else:
        steps += [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    if augment and cutout > 0:
        steps.append(Cutout(cutout))
    return T.Compose(steps)

"""Training: data sets, a training loop and cost measurements for any torch nn.Module.

This package knows nothing of architecture generators (hnag) or search; it imports neither.
"""

from training.datasets import DATASET_NAMES, DatasetBundle, DatasetUnavailableError, load_dataset
from training.loop import TrainConfig, TrainResult, evaluate_accuracy, lr_at, train
from training.measure import Measurements, measure

__all__ = [
    "DATASET_NAMES",
    "DatasetBundle",
    "DatasetUnavailableError",
    "Measurements",
    "TrainConfig",
    "TrainResult",
    "evaluate_accuracy",
    "load_dataset",
    "lr_at",
    "measure",
    "train",
]

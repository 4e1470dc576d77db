"""The one place where the factory meets training: generate a network, train it, measure it.

`nago train` and every search worker go through `build_and_train`, so a number in a search log and a number
from `nago train` mean the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

import hnag
import training
from hnag import ArchitectureSpec, GeneratorParams, RNAGParams


@dataclass
class Outcome:
    spec: ArchitectureSpec
    model: torch.nn.Module
    result: training.TrainResult
    measurements: training.Measurements

    def metrics(self) -> dict[str, Any]:
        return {"spec_hash": self.spec.hash(), "generator": self.spec.generator, "seed": self.spec.meta.get("seed"),
                **self.result.to_dict(), **{f"cost_{k}": v for k, v in self.measurements.to_dict().items()}}


def fit_to_dataset(params: GeneratorParams | RNAGParams, bundle: training.DatasetBundle
                   ) -> GeneratorParams | RNAGParams:
    """The dataset decides the network's input shape and number of classes."""
    return replace(params, input_shape=tuple(bundle.input_shape), num_classes=bundle.num_classes)


def build_and_train(params: GeneratorParams | RNAGParams, seed: int, bundle: training.DatasetBundle,
                    config: training.TrainConfig) -> Outcome:
    spec = hnag.generate(fit_to_dataset(params, bundle), seed)
    torch.manual_seed(seed)  # weight initialisation follows the seed too
    model = hnag.compile_spec(spec)
    result = training.train(model, bundle, config)
    device = next(model.parameters()).device
    measurements = training.measure(model, tuple(bundle.input_shape), device=str(device))
    return Outcome(spec, model, result, measurements)

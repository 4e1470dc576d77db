"""The training evaluator: the one place where the factory meets training.

A job (configuration, budget in epochs, seed) becomes a network and numbers:

    arch_seed = architecture_seed(config, budget, seed)    # or `seed` itself with fixed_architecture=True
    point = space.from_config(config)
    spec = space.to_spec(point, seed=arch_seed, input_shape=<data set's>, num_classes=<data set's>)
    model, result, measurements = build_and_train(spec, arch_seed, bundle, TrainConfig(epochs=budget,
                                                                                      seed=arch_seed, ...))

`build_and_train` is also what `nago train` runs, so a number in a search log and a number from `nago train`
mean the same thing. Metrics (all minimised): "error" (1 - validation accuracy), "test_error" (1 - test
accuracy; reports only), "params" (`hnag.count_params` of the spec, equal to the module's), "macs"
(`hnag.counting.count_macs`: convolutions and linear layers, one sample, as torch's flop counter counts them),
"memory" (training activation memory per sample in MiB, `training.measure`; `info["memory_method"]` says how it
was measured: "cuda-peak-slope" or "cpu-saved-tensors") and "latency" (ms, eval-mode batch of one on the
training device). Budgets may be fractions of an epoch.

The job's architecture seed decides the architecture (for generator spaces the spec depends on it), the weight
initialisation and the data order. As in the NAGO paper, a generator is judged by networks sampled from it: "a
new architecture is re-sampled and re-evaluated at a higher budget". So by default the architecture seed is
derived from (run seed, configuration, budget) by `architecture_seed` (SHA-256 of their canonical JSON; stable
in every process, never Python's salted `hash()`): every configuration at every budget gets its own network,
and a configuration that Successive Halving promotes is re-sampled at the next budget. `fixed_architecture=True`
(`nago search ... --fixed-architecture`) keeps the former rule: the run seed itself, one network per
configuration at every budget. The seed used is recorded in every evaluation's `info["architecture_seed"]`
(and the run seed in `info["seed"]`). A context without the key (a run directory written before the rule
existed) rebuilds the fixed rule, so a resumed search never changes its rule midway. Exact costs (`exact()`)
describe a configuration by its network for `exact_seed`, whichever rule the jobs follow.

The train/validation split does not depend on any job seed: it is drawn once per data set with seed 0
(`SPLIT_SEED`), so that every job of every seed (and every final re-sample) is judged on the same validation
set. (The old evaluation drew the split from the job's seed.)

A bad configuration, a budget the width solver cannot meet, a diverging run or any crash inside training is a
failed `Evaluation` whose error is one line (the traceback is kept in `info["traceback"]`); `evaluate` never
raises.
"""
from __future__ import annotations

import hashlib
import math
import os
import socket
import time
import traceback
from collections import OrderedDict
from dataclasses import fields
from typing import Any, Callable, Mapping

import hnag
from hnag.counting import count_macs

from ..spaces.base import Space, canonical_json, to_builtin
from .base import Evaluation, Evaluator

__all__ = ["TrainingEvaluator", "architecture_seed", "build_and_train", "check_train_overrides",
           "train_option_names", "load_bundle", "DATASET_OPTIONS", "SPLIT_SEED"]

#: TrainConfig fields that are the evaluation's own (a search cannot override them)
_RESERVED = ("epochs", "seed", "device", "progress")
#: load_dataset arguments a search may set through its training overrides
DATASET_OPTIONS = ("val_fraction", "augment", "cutout", "limit")
#: seed of every train/validation split (see the module docstring)
SPLIT_SEED = 0
_MAX_BUNDLES = 3
_BUNDLES: OrderedDict[tuple, Any] = OrderedDict()
_MAX_EXACT = 4096     # exact costs kept per evaluator (strategies ask for many candidates' costs)


def architecture_seed(config: Mapping[str, Any], budget: float, seed: int) -> int:
    """The architecture seed of a job under the re-sampling rule (see the module docstring): the first 8 bytes
    of SHA-256 over the canonical JSON of {"budget", "config", "seed"}, modulo 2**31. The budget counts as a
    float (3 and 3.0 are one budget); the same job gives the same seed in any process and Python version."""
    text = canonical_json({"budget": float(budget), "config": to_builtin(dict(config)), "seed": int(seed)})
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % 2**31


def train_option_names() -> tuple[str, ...]:
    """The training overrides a search may set: TrainConfig fields and data set options."""
    import training

    return tuple(f.name for f in fields(training.TrainConfig) if f.name not in _RESERVED) + DATASET_OPTIONS


def check_train_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the keys (and, by building a TrainConfig, the values) of training overrides; one-line
    ValueError naming the option."""
    import training

    overrides = dict(overrides or {})
    allowed = train_option_names()
    for key in overrides:
        if key not in allowed:
            raise ValueError(f"train option {key}: unknown (allowed: {', '.join(allowed)})")
    training.TrainConfig(epochs=1, **{k: v for k, v in overrides.items() if k not in DATASET_OPTIONS})
    return overrides


def load_bundle(dataset: str, data_dir: str | None = None, options: Mapping[str, Any] | None = None) -> Any:
    """A data set split with `SPLIT_SEED`, loaded once per process (the last few are kept); it must have a
    validation split."""
    import training

    options = dict(options or {})
    key = (dataset, data_dir, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key in _BUNDLES:
        _BUNDLES.move_to_end(key)
        return _BUNDLES[key]
    bundle = training.load_dataset(dataset, data_dir=data_dir, seed=SPLIT_SEED, **options)
    if bundle.val is None:
        raise ValueError("val_fraction: a search needs a validation split (val_fraction > 0)")
    _BUNDLES[key] = bundle
    while len(_BUNDLES) > _MAX_BUNDLES:
        _BUNDLES.popitem(last=False)
    return bundle


def build_and_train(spec: hnag.ArchitectureSpec, seed: int, bundle: Any, config: Any) -> tuple[Any, Any, Any]:
    """Compile `spec` (weights initialised from `seed`), train it with `config` on `bundle` and measure it on
    the training device: (model, training.TrainResult, training.Measurements). Raises ValueError when the
    spec was built for another input shape or number of classes than the data set's."""
    import torch

    import training

    if tuple(spec.input_shape) != tuple(bundle.input_shape) or spec.num_classes != bundle.num_classes:
        raise ValueError(f"spec: built for input {tuple(spec.input_shape)} and {spec.num_classes} classes, the "
                         f"data set {bundle.name} has {tuple(bundle.input_shape)} and {bundle.num_classes}")
    torch.manual_seed(seed)
    model = hnag.compile_spec(spec)
    result = training.train(model, bundle, config)
    device = next(model.parameters()).device
    measurements = training.measure(model, tuple(bundle.input_shape), device=str(device))
    return model, result, measurements


def _reason(exc: BaseException) -> str:
    """One line: a ValueError's own message (they name the field), else the exception's type and message."""
    text = str(exc).strip().splitlines()
    if isinstance(exc, ValueError) and text:
        return text[0]
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _json_safe(value: Any) -> Any:
    """Built-in types, non-finite floats as None (JSON has no NaN; serpent mangles it)."""
    value = to_builtin(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


class TrainingEvaluator(Evaluator):
    """Trains every job's network (see the module docstring).

    space: any space whose points are networks (`Space.to_spec`), or its name; dataset: a `training` data set
      name; data_dir: where its files live; train_overrides: TrainConfig fields and data set options
      (`train_option_names()`); device: "auto", "cpu", "cuda", "cuda:N"; exact_seed: the seed of the networks
      whose params and macs `exact()` counts (for generator spaces the network, and so its cost, depends on
      the seed; cell networks do not); fixed_architecture: build every job's network from the run seed itself
      instead of a seed derived from (seed, configuration, budget) (`architecture_seed`; the default).
    """

    kind = "training"
    in_process = False

    def __init__(self, space: Space | str, dataset: str, *, data_dir: str | None = None,
                 train_overrides: Mapping[str, Any] | None = None, device: str = "auto",
                 exact_seed: int = 0, fixed_architecture: bool = False) -> None:
        import training

        if isinstance(space, str):
            from ..spaces import make_space

            space = make_space(space)
        if not space.has_spec:
            raise ValueError(f"space: {space.name} points are not networks; nothing to train")
        if isinstance(exact_seed, bool) or not isinstance(exact_seed, int) or exact_seed < 0:
            raise ValueError(f"exact_seed: must be an integer >= 0, got {exact_seed!r}")
        if not isinstance(fixed_architecture, bool):
            raise ValueError(f"fixed_architecture: must be true or false, got {fixed_architecture!r}")
        self.space = space
        self.dataset = str(dataset)
        self.data_dir = data_dir
        self.train_overrides = check_train_overrides(train_overrides)
        training.TrainConfig(epochs=1, device=device)  # a one-line error for a malformed device, now
        self.device = device
        self.exact_seed = exact_seed
        self.fixed_architecture = fixed_architecture
        self._data_options = {k: v for k, v in self.train_overrides.items() if k in DATASET_OPTIONS}
        self._train_options = {k: v for k, v in self.train_overrides.items() if k not in DATASET_OPTIONS}
        bundle = load_bundle(self.dataset, data_dir, self._data_options)  # fails early for unknown data
        self.input_shape: tuple[int, int, int] = tuple(int(v) for v in bundle.input_shape)
        self.num_classes: int = int(bundle.num_classes)
        pin = getattr(self.space, "pin_param_budget", None)
        if pin is not None:  # a generator space's default parameter limit, written into every context
            pin(self.input_shape)
        self._exact: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("error", "test_error", "params", "macs", "memory", "latency")

    def evaluate(self, config: Mapping[str, Any], budget: float, seed: int) -> Evaluation:
        """Build the job's network (its architecture seed by this evaluator's rule, from the run `seed`), train
        it for `budget` epochs and measure it; never raises."""
        import torch

        import training

        start = time.perf_counter()
        info: dict[str, Any] = {"seed": seed, "budget": budget, "dataset": self.dataset,
                                "host": socket.gethostname(), "pid": os.getpid(),
                                "threads": torch.get_num_threads()}
        metrics: dict[str, float] = {}
        error = None
        try:
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not (
                    math.isfinite(budget) and budget > 0):
                raise ValueError(f"budget: must be a number of epochs > 0, got {budget!r}")
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
            arch_seed = seed if self.fixed_architecture else architecture_seed(config, budget, seed)
            info["architecture_seed"] = arch_seed
            bundle = load_bundle(self.dataset, self.data_dir, self._data_options)
            point = self.space.from_config(config)
            spec = self.space.to_spec(point, seed=arch_seed, input_shape=self.input_shape,
                                      num_classes=self.num_classes)
            info.update(spec_hash=spec.hash(), generator=spec.generator)
            if "params" in spec.meta:  # generator hyperparameters: `nago train --config` rebuilds this network
                info["generator_params"] = spec.meta["params"]
            train_config = training.TrainConfig(epochs=float(budget), seed=arch_seed, device=self.device,
                                                progress=False, **self._train_options)
            _, result, cost = build_and_train(spec, arch_seed, bundle, train_config)
            info.update(epochs=result.epochs, train_time_s=result.train_time_s, train_loss=result.train_loss,
                        val_accuracy=result.val_accuracy, test_accuracy=result.test_accuracy,
                        train_status=result.status, device=result.device, memory_method=cost.memory_method,
                        macs_thop=cost.macs, macs_flop_counter=cost.macs_flop_counter)
            if result.status != "ok" or result.val_accuracy is None:
                error = (f"diverged: {result.reason}" if result.status == "diverged"
                         else f"training ended with status {result.status!r}: {result.reason}")
            else:
                metrics = {"error": 1.0 - float(result.val_accuracy), "params": float(hnag.count_params(spec)),
                           "macs": float(count_macs(spec)), "memory": float(cost.memory_mb_per_sample),
                           "latency": float(cost.latency_ms)}
                if result.test_accuracy is not None:
                    metrics["test_error"] = 1.0 - float(result.test_accuracy)
        except Exception as exc:  # the evaluation must never take its worker down
            error = _reason(exc)
            info["traceback"] = traceback.format_exc(limit=20)
        info["eval_time_s"] = time.perf_counter() - start
        if error is not None:
            return Evaluation("failed", {}, _json_safe(info), error.splitlines()[0])
        return Evaluation("ok", metrics, _json_safe(info))

    # -- exact costs --------------------------------------------------------------------------------------
    def costs(self, point: Any) -> tuple[float, float]:
        """(params, macs) of the point's network for seed `exact_seed` and the data set's shape; (inf, inf)
        for a point that makes no network (e.g. a parameter budget its widths cannot meet)."""
        key = self.space.hash(point)
        if key in self._exact:
            self._exact.move_to_end(key)
            return self._exact[key]
        try:
            spec = self.space.to_spec(point, seed=self.exact_seed, input_shape=self.input_shape,
                                      num_classes=self.num_classes)
            value = (float(hnag.count_params(spec)), float(count_macs(spec)))
        except ValueError:
            value = (math.inf, math.inf)
        self._exact[key] = value
        while len(self._exact) > _MAX_EXACT:
            self._exact.popitem(last=False)
        return value

    def exact(self) -> dict[str, Callable[[Any], float]]:
        """params and macs from the spec alone (for seed `exact_seed`; see `costs`)."""
        return {"params": lambda point: self.costs(point)[0], "macs": lambda point: self.costs(point)[1]}

    # -- rebuilding ---------------------------------------------------------------------------------------
    def context(self) -> dict[str, Any]:
        return {"kind": self.kind, "space": self.space.context(), "dataset": self.dataset,
                "data_dir": self.data_dir, "train_overrides": to_builtin(self.train_overrides),
                "device": self.device, "exact_seed": self.exact_seed,
                "fixed_architecture": self.fixed_architecture}

    @classmethod
    def from_context(cls, ctx: Mapping[str, Any]) -> "TrainingEvaluator":
        from ..spaces import space_from_context

        return cls(space_from_context(ctx["space"]), ctx["dataset"], data_dir=ctx.get("data_dir"),
                   train_overrides=ctx.get("train_overrides"), device=ctx.get("device", "auto"),
                   exact_seed=int(ctx.get("exact_seed", 0)),
                   # a context written before the re-sampling rule existed: its run used the run seed
                   fixed_architecture=bool(ctx.get("fixed_architecture", True)))

    def describe(self) -> str:
        return f"training on {self.dataset} ({self.space.name})"

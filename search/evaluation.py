"""One evaluation: configuration + budget (epochs) + seed -> trained, measured network -> result dict.

Every strategy's worker calls `evaluate`; it never raises for a bad configuration, a diverging training run or
a crash inside training: those become `{"status": "failed", "loss": None, "info": {"error": ...}}`.
"""
from __future__ import annotations

import math
import os
import socket
import time
import traceback
from collections import OrderedDict
from dataclasses import fields
from typing import Any, Mapping

from .spaces import SPACES, build_space, params_from_config, to_builtin

# TrainConfig fields a search may set (epochs, seed, device and progress are the evaluation's own).
_RESERVED = {"epochs", "seed", "device", "progress"}
# load_dataset arguments a search may set.
DATASET_OPTIONS = ("val_fraction", "augment", "cutout", "limit")
_BUNDLES: OrderedDict[tuple, Any] = OrderedDict()
_MAX_BUNDLES = 3


def train_option_names() -> tuple[str, ...]:
    import training

    names = [f.name for f in fields(training.TrainConfig) if f.name not in _RESERVED]
    return tuple(names) + DATASET_OPTIONS


def check_train_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the keys (and, by building a TrainConfig, the values) of training overrides."""
    import training

    overrides = dict(overrides or {})
    allowed = train_option_names()
    for key in overrides:
        if key not in allowed:
            raise ValueError(f"train option {key}: unknown (allowed: {', '.join(allowed)})")
    train_kw = {k: v for k, v in overrides.items() if k not in DATASET_OPTIONS}
    training.TrainConfig(epochs=1, **train_kw)
    return overrides


def _bundle(dataset: str, data_dir: str | None, seed: int, options: Mapping[str, Any]):
    import training

    key = (dataset, data_dir, seed, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key in _BUNDLES:
        _BUNDLES.move_to_end(key)
        return _BUNDLES[key]
    bundle = training.load_dataset(dataset, data_dir=data_dir, seed=seed, **options)
    if bundle.val is None:
        raise ValueError("val_fraction: a search needs a validation split (val_fraction > 0)")
    _BUNDLES[key] = bundle
    while len(_BUNDLES) > _MAX_BUNDLES:
        _BUNDLES.popitem(last=False)
    return bundle


def _context(space: str | Mapping[str, Any], space_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """A space name (built-in or a generator name) plus options, or a ready context dict."""
    if isinstance(space, Mapping):
        return dict(space)
    if space in ("hnag", "rnag") and space not in SPACES:
        return {"space": space, "generator": space, "fixed": dict(space_options or {}), "preset": None}
    return build_space(space, space_options).context()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def evaluate(config: Mapping[str, Any], budget_epochs: float, *, space: str | Mapping[str, Any], dataset: str,
             seed: int, data_dir: str | None = None, device: str = "auto",
             train_overrides: Mapping[str, Any] | None = None,
             space_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Generate the network of (config, seed), train it for `budget_epochs` (fractions allowed) and measure it.

    space: a built-in space name (its options in `space_options`), "hnag"/"rnag", or a context dict from
      `SearchSpace.context()` (what crosses the wire to a worker).
    train_overrides: TrainConfig fields (lr, batch_size, schedule, ...) and load_dataset options
      (val_fraction, augment, cutout, limit).
    Returns {"status": "ok" | "failed", "loss": validation error in [0, 1] or None, "info": {...}} where info
    holds params, macs, memory per sample, train time, spec hash, validation and test accuracy, the generator
    hyperparameters (a dict `nago train --config` accepts) and, for failures, `error` (one line) and `traceback`.
    All values are built-in Python types.
    """
    start = time.perf_counter()
    info: dict[str, Any] = {"budget": budget_epochs, "seed": seed, "dataset": dataset,
                            "host": socket.gethostname(), "pid": os.getpid()}
    try:
        import training
        from .pipeline import build_and_train

        context = _context(space, space_options)
        info["space"] = context.get("space")
        if isinstance(budget_epochs, bool) or not isinstance(budget_epochs, (int, float)) or not (
                math.isfinite(budget_epochs) and budget_epochs > 0):
            raise ValueError(f"budget: must be a number of epochs > 0, got {budget_epochs!r}")
        overrides = dict(train_overrides or {})
        data_options = {k: overrides.pop(k) for k in DATASET_OPTIONS if k in overrides}
        bundle = _bundle(dataset, data_dir, seed, data_options)
        params = params_from_config(context, config, tuple(bundle.input_shape), bundle.num_classes)
        info["generator_params"] = params.to_dict()
        train_config = training.TrainConfig(epochs=float(budget_epochs), seed=seed, device=device, progress=False,
                                            **overrides)
        outcome = build_and_train(params, seed, bundle, train_config)
        result, cost = outcome.result, outcome.measurements
        info.update(
            spec_hash=outcome.spec.hash(), generator=outcome.spec.generator,
            params=cost.params, macs=cost.macs, macs_flop_counter=cost.macs_flop_counter,
            memory_mb_per_sample=cost.memory_mb_per_sample, memory_method=cost.memory_method,
            latency_ms=cost.latency_ms, train_time_s=result.train_time_s, epochs=result.epochs,
            train_loss=result.train_loss, val_accuracy=result.val_accuracy, test_accuracy=result.test_accuracy,
            device=result.device,
        )
        if result.status != "ok" or result.val_accuracy is None:
            info["error"] = f"diverged: {result.reason}" if result.status == "diverged" else (
                f"training ended with status {result.status!r}: {result.reason}")
            status, loss = "failed", None
        else:
            status, loss = "ok", 1.0 - float(result.val_accuracy)
    except Exception as exc:  # the evaluation must never take its worker down
        info["error"] = _reason(exc)
        info["traceback"] = traceback.format_exc(limit=20)
        status, loss = "failed", None
    info["eval_time_s"] = time.perf_counter() - start
    info["status"] = status
    return {"status": status, "loss": loss, "info": json_safe(info)}


def json_safe(value: Any) -> Any:
    """Built-in types with non-finite floats replaced by None (JSON has no NaN, serpent mangles it)."""
    value = to_builtin(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value

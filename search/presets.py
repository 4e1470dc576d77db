"""Search presets: named sets of search settings per data set, filled into a `SearchRequest` where the user set
nothing (explicit flags win).

    nago search bohb --preset paper --dataset cifar10 --run-dir runs/c10     # 30/60/120 epochs, eta 2, ...

`paper`: the NAGO paper's BOHB protocol (Ru, Esperanca, Carlucci 2020, Appendix I) as far as it could be
checked. Sources: the authors' configuration (vega_NAGO `examples/nas/nago/nago.yml` and its documentation
`docs/en/algorithms/nago.md`): BOHB with min 30 and max 120 epochs, eta = 2 (brackets of 4, 2 and 1
configurations at 30, 60 and 120 epochs), 50 iterations, `n_param_limit: 4.0e6` for CIFAR-10, SGD with batch
128, lr 0.1, momentum 0.9, weight decay 1e-4; the documentation says the authors' own runs raise the batch size
to fill the GPU "and scale the learning rate accordingly" (linear scaling: lr = 0.1 x batch / 128, applied
here when the user sets a batch size but no lr). The paper's own appendix text was not available to check.

Departures and choices without a source:
- large-image tasks (ImageFolder data: SPORT8, MIT67, Flowers102): a 5.0M parameter limit (the value the
  large-image stem tests use; not checked against the paper); the same budgets as the small-image tasks;
- cutout 16 px on 32 px images (the usual CIFAR setting; cutout is not in the authors' configuration), none on
  large and tiny images;
- digits (not in the paper): the toy limit of `search.spaces.generator_space.PARAM_LIMITS` (50,000), so that a
  preset search there stays small; same budgets and eta;
- the authors' step schedule (x0.5 every 20 epochs) is not available in `training.TrainConfig` (its "step"
  schedule multiplies by 0.1 at fractions of training): the training's default schedule (cosine) is kept;
- strategies that evaluate every job at one budget (random, mobo, ...) get only the largest budget (120 epochs);
  eta and iterations go only to the strategies that take them (hyperband, bohb, mobohb).

A preset needs training (`--dataset`); tables and synthetic problems hold their own budgets.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from .spaces.generator_space import PARAM_LIMITS

__all__ = ["SearchPreset", "PRESETS", "PRESET_NAMES", "apply_preset", "preset_for"]


@dataclass(frozen=True)
class SearchPreset:
    """Settings one preset gives one image class ("tiny", "small", "large").

    min_budget, max_budget: epochs; eta, iterations: successive halving (multi-fidelity strategies only);
    param_budget: the space option; train: training overrides; base_batch, base_lr: the linear learning-rate
    scaling rule lr = base_lr x batch_size / base_batch."""

    min_budget: float
    max_budget: float
    eta: float
    iterations: int
    param_budget: int
    base_batch: int
    base_lr: float
    train: dict[str, Any] = field(default_factory=dict)


def _paper(image_class: str, cutout: int) -> SearchPreset:
    return SearchPreset(min_budget=30.0, max_budget=120.0, eta=2.0, iterations=50,
                        param_budget=PARAM_LIMITS[image_class], base_batch=128, base_lr=0.1,
                        train={"batch_size": 128, "momentum": 0.9, "weight_decay": 1e-4, "cutout": cutout})


#: preset name -> image class -> settings
PRESETS: dict[str, dict[str, SearchPreset]] = {
    "paper": {"tiny": _paper("tiny", 0), "small": _paper("small", 16), "large": _paper("large", 0)},
}
PRESET_NAMES = tuple(PRESETS)
#: the image class of each built-in data set (ImageFolder data: "large")
DATASET_CLASSES = {"digits": "tiny", "mnist": "small", "fashion-mnist": "small", "svhn": "small",
                   "cifar10": "small", "cifar100": "small"}


def preset_for(name: str, dataset: str) -> SearchPreset:
    """The settings of preset `name` for `dataset` (one-line ValueError for an unknown name or data set)."""
    if name not in PRESETS:
        raise ValueError(f"preset: must be one of {', '.join(PRESET_NAMES)}, got {name!r}")
    image_class = "large" if dataset.startswith("imagefolder:") else DATASET_CLASSES.get(dataset)
    if image_class is None:
        raise ValueError(f"preset {name}: no settings for data set {dataset!r} (it has them for "
                         f"{', '.join(DATASET_CLASSES)} and imagefolder:PATH)")
    return PRESETS[name][image_class]


def apply_preset(req: Any) -> dict[str, Any]:
    """Fill the fields of `req` (a `search.run.SearchRequest` with `req.preset` set) that the user left unset
    with the preset's settings for its data set; returns what was filled, by field (recorded in search.json).

    Unset means: None for min_budget and max_budget, a key absent from options (eta, iterations),
    space_options (param_budget; a fixed base_channels also counts as the user's choice of size) and
    train_overrides. When the user sets a batch size but no lr, lr follows the linear scaling rule."""
    if req.benchmark is not None or req.problem is not None:
        raise ValueError(f"preset {req.preset}: needs training (--dataset); a table or a synthetic problem holds "
                         "its own budgets")
    from .strategies import strategy_class

    preset = preset_for(req.preset, req.dataset or "digits")
    cls = strategy_class(req.strategy)
    filled: dict[str, Any] = {}
    if req.max_budget is None:
        req.max_budget = filled["max_budget"] = preset.max_budget
    if cls.multi_fidelity and req.min_budget is None:
        req.min_budget = filled["min_budget"] = preset.min_budget
    accepted = inspect.signature(cls.__init__).parameters
    options = {k: v for k, v in (("eta", preset.eta), ("iterations", preset.iterations))
               if k in accepted and k not in req.options}
    if options:
        req.options = {**req.options, **options}
        filled["options"] = options
    if not {"param_budget", "base_channels"} & set(req.space_options):
        req.space_options = {**req.space_options, "param_budget": preset.param_budget}
        filled["space_options"] = {"param_budget": preset.param_budget}
    train = {k: v for k, v in preset.train.items() if k not in req.train_overrides}
    if "lr" not in req.train_overrides:
        batch = req.train_overrides.get("batch_size", preset.train["batch_size"])
        if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0:  # else TrainConfig says why
            train["lr"] = preset.base_lr * batch / preset.base_batch
    if train:
        req.train_overrides = {**req.train_overrides, **train}
        filled["train_overrides"] = train
    return filled

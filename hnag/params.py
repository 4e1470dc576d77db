"""Generator hyperparameters (HNAG and RNAG), their validation, presets and search ranges.

Every check raises `ValueError` with one line naming the field and its allowed range, so the CLI can print it
and exit with code 2. Values come from YAML, JSON and `--set`, so their shape is checked on construction
(a scalar where a list belongs, text where a number belongs) before anything is converted; a whole float such
as 1e6 or 5.0 is accepted for an integer field, any other float is not.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

MERGE_OPTIONS = ("sum", "weighted_sum", "attention", "concat")
OPERATIONS = ("conv3x3", "conv5x5", "conv1x1", "sep_conv3x3", "sep_conv5x5", "max_pool3x3", "avg_pool3x3")

MAX_WIDTH = 4096  # channels
DOWNSAMPLE_OPTIONS = ("pool", "stride")
STEM_STRIDES = (1, 2, 4)
LARGE_INPUT = 40  # pixels: inputs at least this large on their shorter side get a stem that reduces by 4

# The paper's search ranges for the base HNAG space (integers inclusive).
SEARCH_RANGES: dict[str, tuple[float, float]] = {
    "top_n": (3, 10), "top_k": (2, 5), "top_p": (0.1, 1.0),
    "mid_n": (1, 10), "mid_p": (0.1, 1.0),
    "bottom_n": (3, 10), "bottom_k": (2, 5), "bottom_p": (0.1, 1.0),
}


def _fail(name: str, allowed: str, value: Any) -> None:
    raise ValueError(f"{name}: must be {allowed}, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> Any:
    """A float with no fractional part (1e6 read from YAML or JSON) as an int; anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _sequence(name: str, value: Any, allowed: str, integers: bool = False) -> tuple:
    """A list or tuple of numbers (of whole numbers with `integers`) as a tuple of floats (ints)."""
    items = list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(_is_number(v) for v in items):
        _fail(name, allowed, list(value) if isinstance(value, tuple) else value)
    if integers:
        items = [_whole(v) for v in items]
        if not all(isinstance(v, int) for v in items):
            _fail(name, allowed, list(value))
        return tuple(items)
    return tuple(float(v) for v in items)


def _weights(name: str, value: Any) -> dict[str, float]:
    """A mapping of option name to weight, sorted by name, weights as floats."""
    if not isinstance(value, Mapping):
        _fail(name, "a mapping of option to weight, e.g. {conv3x3: 1, sep_conv3x3: 0.5}", value)
    for key, weight in value.items():
        if not _is_number(weight):
            _fail(f"{name}.{key}", "a number >= 0", weight)
    return {str(k): float(v) for k, v in sorted(value.items())}


def _normalise_ints(params: Any) -> None:
    """Whole floats -> ints in the integer fields of a frozen params dataclass."""
    for f in fields(params):
        if f.type in ("int", "int | None"):
            object.__setattr__(params, f.name, _whole(getattr(params, f.name)))


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        _fail(name, f"an integer in [{lo}, {hi if hi is not None else 'inf'}]", value)


def _check_prob(name: str, value: Any) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        _fail(name, "a number in [0, 1]", value)


def _check_ws(names: tuple[str, str, str], n: int, k: int, p: float, min_n: int = 3) -> None:
    """Watts-Strogatz (n, k, p): networkx needs k < n; k = 1 would leave nodes unconnected."""
    _check_int(names[0], n, min_n)
    _check_int(names[1], k, 2, n - 1)
    _check_prob(names[2], p)


def _check_distribution(name: str, probs: Mapping[str, float], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(probs) - set(allowed))
    if unknown:
        _fail(name, f"keys among {', '.join(allowed)}", unknown[0])
    for key, value in probs.items():
        if not _is_number(value) or not 0 <= value < math.inf:
            _fail(f"{name}.{key}", "a finite number >= 0", value)
    if sum(probs.values()) <= 0:
        _fail(name, "weights with a positive sum", dict(probs))


_SHAPE = "three positive integers (channels, height, width)"


def _check_shape(input_shape: Any, num_classes: Any) -> None:
    if len(input_shape) != 3 or any(v < 1 for v in input_shape):
        _fail("input_shape", _SHAPE, list(input_shape))
    _check_int("num_classes", num_classes, 2)


def _check_budget(budget: Any, tolerance: Any) -> None:
    if budget is not None:
        _check_int("param_budget", budget, 1000)
    if not _is_number(tolerance) or not 0 < tolerance <= 0.5:
        _fail("budget_tolerance", "a number in (0, 0.5]", tolerance)


@dataclass(frozen=True)
class GeneratorParams:
    """HNAG: Watts-Strogatz top level, Erdos-Renyi middle level, Watts-Strogatz bottom level."""

    top_n: int = 6
    top_k: int = 4
    top_p: float = 0.5
    mid_n: int = 3
    mid_p: float = 0.5
    bottom_n: int = 5
    bottom_k: int = 2
    bottom_p: float = 0.5
    stage_ratios: tuple[float, ...] = (1.0, 1.0, 1.0)
    channel_ratios: tuple[float, ...] = (1.0, 2.0, 4.0)
    merge_probs: dict[str, float] = field(default_factory=lambda: {"sum": 1.0})
    op_probs: dict[str, float] = field(default_factory=lambda: {"conv3x3": 1.0})
    base_channels: int = 16
    stem_channels: int | None = None  # None: the first stage's width
    downsample: str = "pool"          # between stages: "pool" (the paper's) or "stride" (stride-2 input ops)
    stem_stride: int | None = None    # 1, 2 or 4; None: 4 for inputs of LARGE_INPUT px or more, else 1
    param_budget: int | None = None
    budget_tolerance: float = 0.01
    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10

    def __post_init__(self) -> None:
        # Check shapes and normalise containers, so that equal params compare (and serialise) equal.
        for name in ("stage_ratios", "channel_ratios"):
            object.__setattr__(self, name, _sequence(name, getattr(self, name), "a list of numbers, one per stage, "
                                                     "e.g. [1, 2, 4]"))
        object.__setattr__(self, "input_shape", _sequence("input_shape", self.input_shape, _SHAPE, integers=True))
        object.__setattr__(self, "merge_probs", _weights("merge_probs", self.merge_probs))
        object.__setattr__(self, "op_probs", _weights("op_probs", self.op_probs))
        _normalise_ints(self)

    @property
    def num_stages(self) -> int:
        return len(self.stage_ratios)

    @property
    def resolved_stem_stride(self) -> int:
        """`stem_stride`, or the automatic rule (the authors' code): 4 when the input's shorter side has at least
        LARGE_INPUT pixels, else 1."""
        if self.stem_stride is not None:
            return self.stem_stride
        return 4 if min(self.input_shape[1:]) >= LARGE_INPUT else 1

    def validate(self) -> "GeneratorParams":
        _check_ws(("top_n", "top_k", "top_p"), self.top_n, self.top_k, self.top_p)
        _check_int("mid_n", self.mid_n, 1)
        _check_prob("mid_p", self.mid_p)
        _check_ws(("bottom_n", "bottom_k", "bottom_p"), self.bottom_n, self.bottom_k, self.bottom_p)
        if not 1 <= len(self.stage_ratios) <= self.top_n:
            _fail("stage_ratios", f"1 to top_n = {self.top_n} values (one per stage)", list(self.stage_ratios))
        if any(not 0 < r for r in self.stage_ratios) or not sum(self.stage_ratios) < math.inf:
            _fail("stage_ratios", "positive finite numbers", list(self.stage_ratios))
        if len(self.channel_ratios) != len(self.stage_ratios):
            _fail("channel_ratios", f"{len(self.stage_ratios)} values (one per stage)", list(self.channel_ratios))
        if any(not 0 < r < math.inf for r in self.channel_ratios) or \
                max(self.channel_ratios) > MAX_WIDTH * min(self.channel_ratios):
            _fail("channel_ratios", f"positive numbers, the largest at most {MAX_WIDTH} times the smallest",
                  list(self.channel_ratios))
        _check_distribution("merge_probs", self.merge_probs, MERGE_OPTIONS)
        _check_distribution("op_probs", self.op_probs, OPERATIONS)
        _check_int("base_channels", self.base_channels, 1, MAX_WIDTH)
        if self.stem_channels is not None:
            _check_int("stem_channels", self.stem_channels, 1, MAX_WIDTH)
        if self.downsample not in DOWNSAMPLE_OPTIONS:
            _fail("downsample", " or ".join(repr(o) for o in DOWNSAMPLE_OPTIONS), self.downsample)
        if self.stem_stride is not None and (isinstance(self.stem_stride, bool) or
                                             self.stem_stride not in STEM_STRIDES):
            _fail("stem_stride", f"one of {', '.join(map(str, STEM_STRIDES))}, or null for the automatic rule",
                  self.stem_stride)
        _check_budget(self.param_budget, self.budget_tolerance)
        _check_shape(self.input_shape, self.num_classes)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(stage_ratios=list(self.stage_ratios), channel_ratios=list(self.channel_ratios),
                 input_shape=list(self.input_shape))
        return {"generator": "hnag", **d}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base: "GeneratorParams | None" = None) -> "GeneratorParams":
        """Build from nested keys (`stage_ratios: [...]`, `op_probs: {...}`) or the flat keys of a search
        space (`stage_ratio_0`, `channel_ratio_1`, `merge_concat`, `op_conv5x5`); missing keys keep `base`."""
        return _from_dict(cls, d, base or cls())


@dataclass(frozen=True)
class RNAGParams:
    """RandWire ("Exploring Randomly Wired Neural Networks"): three Watts-Strogatz stages in sequence.

    regime "small": conv 3x3 stem (C/2, stride 2), a ReLU-conv-BN layer (C, stride 2), random stages of width
    C, 2C, 4C; "regular": conv 3x3 stem (C/2, stride 2), random stages of width C, 2C, 4C, 8C (the paper gives
    the first N/2 nodes: `n` lists the node count of every stage literally). Both end with a 1x1 conv to 1280 channels before the classifier. `stem_stride=1` keeps small
    inputs (CIFAR, digits) from being downsampled away.
    """

    n: tuple[int, ...] = (32, 32, 32)
    k: tuple[int, ...] = (4, 4, 4)
    p: tuple[float, ...] = (0.75, 0.75, 0.75)
    channels: int = 78
    regime: str = "small"
    head_channels: int = 1280
    stem_stride: int = 2
    param_budget: int | None = None
    budget_tolerance: float = 0.01
    input_shape: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _sequence("n", self.n, "a list of integers, one per random stage", True))
        object.__setattr__(self, "k", _sequence("k", self.k, "a list of integers, one per random stage", True))
        object.__setattr__(self, "p", _sequence("p", self.p, "a list of numbers in [0, 1], one per random stage"))
        object.__setattr__(self, "input_shape", _sequence("input_shape", self.input_shape, _SHAPE, integers=True))
        _normalise_ints(self)

    @property
    def num_random_stages(self) -> int:
        return 3 if self.regime == "small" else 4

    def validate(self) -> "RNAGParams":
        if self.regime not in ("small", "regular"):
            _fail("regime", "'small' or 'regular'", self.regime)
        stages = self.num_random_stages
        for name in ("n", "k", "p"):
            if len(getattr(self, name)) != stages:
                _fail(name, f"{stages} values (one per random stage of the {self.regime} regime)",
                      list(getattr(self, name)))
        for i, (n, k, p) in enumerate(zip(self.n, self.k, self.p)):
            _check_ws((f"n_{i}", f"k_{i}", f"p_{i}"), n, k, p)
        _check_int("channels", self.channels, 2, 4096)
        _check_int("head_channels", self.head_channels, 1, 8192)
        _check_int("stem_stride", self.stem_stride, 1, 2)
        _check_budget(self.param_budget, self.budget_tolerance)
        _check_shape(self.input_shape, self.num_classes)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(n=list(self.n), k=list(self.k), p=list(self.p), input_shape=list(self.input_shape))
        return {"generator": "rnag", **d}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base: "RNAGParams | None" = None) -> "RNAGParams":
        """Nested keys (`n: [..]`) or flat search-space keys (`n_0`, `k_1`, `p_2`); missing keys keep `base`."""
        return _from_dict(cls, d, base or cls())


# Flat key prefixes of the search spaces -> (field, kind): "list" fields are indexed, "dict" fields keyed.
_FLAT_PREFIXES = {
    "stage_ratio_": ("stage_ratios", "list"), "channel_ratio_": ("channel_ratios", "list"),
    "merge_": ("merge_probs", "dict"), "op_": ("op_probs", "dict"),
    "n_": ("n", "list"), "k_": ("k", "list"), "p_": ("p", "list"),
}


def _from_dict(cls: type, d: Mapping[str, Any], base: Any) -> Any:
    names = {f.name for f in fields(cls)}
    nested: dict[str, Any] = {}
    flat_lists: dict[str, dict[int, Any]] = {}
    flat_dicts: dict[str, dict[str, Any]] = {}
    for key, value in d.items():
        if key == "generator":
            continue
        if key in names:
            nested[key] = value
            continue
        for prefix, (target, kind) in _FLAT_PREFIXES.items():
            if key.startswith(prefix) and target in names:
                suffix = key[len(prefix):]
                if kind == "list" and suffix.isdigit():
                    if not _is_number(value):
                        _fail(key, "a number", value)
                    flat_lists.setdefault(target, {})[int(suffix)] = value
                    break
                if kind == "dict":
                    if not _is_number(value):
                        _fail(key, "a number >= 0", value)
                    flat_dicts.setdefault(target, {})[suffix] = value
                    break
        else:
            raise ValueError(f"{key}: unknown {cls.__name__} field (known: {', '.join(sorted(names))})")
    for target, items in flat_lists.items():
        values = list(_sequence(target, nested.get(target, getattr(base, target)), "a list of numbers"))
        if max(items) >= len(values):
            values += [values[-1]] * (max(items) + 1 - len(values))
        for i, v in items.items():
            values[i] = v
        nested[target] = tuple(values)
    for target, items in flat_dicts.items():
        nested[target] = {k: v for k, v in items.items() if v > 0} or items
    _check_stage_count(nested, base)
    return replace(base, **nested)


def _check_stage_count(given: Mapping[str, Any], base: Any) -> None:
    """Blame the field the user set when it alone changes the number of stages (the others keep the base's)."""
    if isinstance(base, GeneratorParams):
        pairs = [("stage_ratios", "channel_ratios"), ("channel_ratios", "stage_ratios")]
        for name, other in pairs:
            value = given.get(name)
            if other not in given and isinstance(value, (list, tuple)) and len(value) != len(getattr(base, other)):
                _fail(name, f"{len(getattr(base, other))} values like {other} (one per stage; set {other} too to "
                      f"change the number of stages)", list(value))
    elif isinstance(base, RNAGParams) and "regime" in given and not {"n", "k", "p"} & set(given):
        stages = {"small": 3, "regular": 4}.get(given["regime"])
        if stages is not None and stages != len(base.n):
            _fail("regime", f"set together with n, k and p of {stages} values each for {given['regime']!r} (they "
                  f"have {len(base.n)})", given["regime"])


PRESETS: dict[str, GeneratorParams | RNAGParams] = {
    # The paper's base space centre, three stages 1:2:4, ReLU-conv3x3-BN nodes, sum merges.
    "hnag-default": GeneratorParams(),
    # Middle level of one node: HNAG reduced to two levels.
    "hnag-two-level": GeneratorParams(mid_n=1),
    # The expanded spaces' ingredients all switched on with equal probabilities.
    "hnag-mixed": GeneratorParams(merge_probs={m: 1.0 for m in MERGE_OPTIONS},
                                  op_probs={o: 1.0 for o in OPERATIONS}),
    # Small enough to train on scikit-learn's 8x8 digits in a minute on two CPU cores.
    "hnag-small": GeneratorParams(top_n=4, top_k=2, mid_n=2, bottom_n=3, bottom_k=2, param_budget=50_000,
                                  input_shape=(1, 8, 8)),
    # The smallest sensible network, for tests.
    "hnag-tiny": GeneratorParams(top_n=3, top_k=2, mid_n=1, bottom_n=3, bottom_k=2, base_channels=4,
                                 input_shape=(1, 8, 8)),
    # RandWire's two regimes as in the paper (ImageNet), and a CIFAR-sized variant.
    "rnag-small": RNAGParams(n=(32, 32, 32), k=(4, 4, 4), p=(0.75, 0.75, 0.75), channels=78, regime="small"),
    "rnag-regular": RNAGParams(n=(16, 32, 32, 32), k=(4, 4, 4, 4), p=(0.75,) * 4, channels=109, regime="regular"),
    "rnag-cifar": RNAGParams(n=(16, 16, 16), k=(4, 4, 4), p=(0.75, 0.75, 0.75), channels=32, head_channels=256,
                             stem_stride=1, input_shape=(3, 32, 32), num_classes=10),
}


def preset(name: str) -> GeneratorParams | RNAGParams:
    if name not in PRESETS:
        raise ValueError(f"preset: must be one of {', '.join(PRESETS)}, got {name!r}")
    return PRESETS[name]

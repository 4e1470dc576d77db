"""Search spaces over generator hyperparameters, as ConfigSpace configuration spaces.

Built-in spaces (flat keys, as accepted by `GeneratorParams.from_dict` / `RNAGParams.from_dict`):

- `hnag`: the paper's base space. Top and bottom Watts-Strogatz levels N in [3, 10], K in [2, 5], P in [0.1, 1];
  middle Erdos-Renyi level N in [1, 10] (one node = HNAG reduced to two levels), P in [0.1, 1]. `mid_p` is only
  active when `mid_n > 1` (a condition); `top_k >= top_n` and `bottom_k >= bottom_n` are forbidden clauses, so
  no invalid (K, N) pair is ever sampled.
- `hnag-ops`: the base space plus merge probabilities `merge_<option>` and operation probabilities `op_<op>`,
  each in [0, 1] (normalised by the generator).
- `hnag-ratios`: the base space plus three stage ratios `stage_ratio_i` in [0.1, 1] (normalised by the
  generator) and three channel ratios `channel_ratio_i`, log-uniform in [0.5, 8] (the widths are relative; a
  parameter budget rescales them).
- `hnag-full`: both expansions.
- `rnag`: RandWire's three Watts-Strogatz stages, `n_i` in [8, 40], `k_i` in [2, 8], `p_i` in [0.1, 1]
  (forbidden clauses keep k_i < n_i).

Space options (`--space-option KEY=VALUE`) adapt a space without writing one:
- a search hyperparameter with a `[lo, hi]` value narrows (or widens) its range: `top_n=[3, 5]`;
- a search hyperparameter with a scalar value is fixed and leaves the space: `mid_n=1`;
- `preset=<name>` picks the base hyperparameters (default: `GeneratorParams()` for HNAG spaces, `rnag-cifar`
  for `rnag`);
- any other generator field is fixed: `param_budget=20000`, `base_channels=4`, `channel_ratios=[1, 2, 4]`.
The data set always decides `input_shape` and `num_classes`.

A space can be printed (`describe`), saved and loaded as ConfigSpace JSON (`save_space`, `load_space`); a
saved file can be edited and passed as the space of a search (its generator is inferred from its name or its
hyperparameter names).
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import ConfigSpace as CS
from ConfigSpace import (
    ConfigurationSpace,
    ForbiddenEqualsRelation,
    ForbiddenGreaterThanRelation,
    GreaterThanCondition,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

import hnag
from .base import to_builtin  # noqa: F401 (re-exported)
from hnag import MERGE_OPTIONS, OPERATIONS, GeneratorParams, RNAGParams

NUM_STAGES = 3
RNAG_RANGES = {"n": (8, 40), "k": (2, 8), "p": (0.1, 1.0)}
STAGE_RATIO_RANGE = (0.1, 1.0)
CHANNEL_RATIO_RANGE = (0.5, 8.0)
PROB_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class _HP:
    name: str
    kind: str  # "int" | "float"
    lower: float
    upper: float
    log: bool = False


def _base_hps() -> list[_HP]:
    out = []
    for name, (lo, hi) in hnag.SEARCH_RANGES.items():
        kind = "float" if name.endswith("_p") else "int"
        out.append(_HP(name, kind, lo, hi))
    return out


def _ops_hps() -> list[_HP]:
    return ([_HP(f"merge_{m}", "float", *PROB_RANGE) for m in MERGE_OPTIONS]
            + [_HP(f"op_{o}", "float", *PROB_RANGE) for o in OPERATIONS])


def _ratio_hps() -> list[_HP]:
    return ([_HP(f"stage_ratio_{i}", "float", *STAGE_RATIO_RANGE) for i in range(NUM_STAGES)]
            + [_HP(f"channel_ratio_{i}", "float", *CHANNEL_RATIO_RANGE, log=True) for i in range(NUM_STAGES)])


def _rnag_hps() -> list[_HP]:
    out = []
    for i in range(NUM_STAGES):
        out += [_HP(f"n_{i}", "int", *RNAG_RANGES["n"]), _HP(f"k_{i}", "int", *RNAG_RANGES["k"]),
                _HP(f"p_{i}", "float", *RNAG_RANGES["p"])]
    return out


# name -> (generator, hyperparameters, description)
SPACES: dict[str, tuple[str, list[_HP], str]] = {
    "hnag": ("hnag", _base_hps(), "HNAG base space (paper ranges)"),
    "hnag-ops": ("hnag", _base_hps() + _ops_hps(), "HNAG + merge and operation probabilities"),
    "hnag-ratios": ("hnag", _base_hps() + _ratio_hps(), "HNAG + stage and channel ratios"),
    "hnag-full": ("hnag", _base_hps() + _ops_hps() + _ratio_hps(), "HNAG + both expansions"),
    "rnag": ("rnag", _rnag_hps(), "RandWire: three Watts-Strogatz stages (N, K, P)"),
}
SPACE_NAMES = tuple(SPACES)
# Every flat hyperparameter name any space of a generator may hold (used to tell ranges from fixed fields).
_ALL_HP_NAMES = {
    "hnag": {hp.name for hp in _base_hps() + _ops_hps() + _ratio_hps()},
    "rnag": {hp.name for hp in _rnag_hps()},
}
# (K, N) pairs that must satisfy K < N.
_WS_PAIRS = {"hnag": [("top_k", "top_n"), ("bottom_k", "bottom_n")],
             "rnag": [(f"k_{i}", f"n_{i}") for i in range(NUM_STAGES)]}
DEFAULT_PRESET = {"hnag": None, "rnag": "rnag-cifar"}


@dataclass
class SearchSpace:
    """A ConfigSpace space plus what turns its configurations into generator hyperparameters.

    name: the built-in space name, or "custom:<file>" for a space loaded from JSON.
    generator: "hnag" or "rnag".
    space: the ConfigurationSpace the optimisers sample from.
    fixed: generator fields fixed by space options (applied under every configuration).
    preset: base hyperparameters preset (None = the generator's defaults).
    """

    name: str
    generator: str
    space: ConfigurationSpace
    fixed: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None

    @property
    def hyperparameter_names(self) -> list[str]:
        return [hp.name for hp in self.space.values()]

    def context(self) -> dict[str, Any]:
        """What a worker needs to turn a configuration into hyperparameters (JSON-able, crosses Pyro4)."""
        return {"space": self.name, "generator": self.generator, "fixed": dict(self.fixed), "preset": self.preset}

    def to_params(self, config: Mapping[str, Any], input_shape: tuple[int, int, int],
                  num_classes: int) -> GeneratorParams | RNAGParams:
        return params_from_config(self.context(), config, input_shape, num_classes)

    def sample(self, n: int = 1, seed: int | None = None) -> list[dict[str, Any]]:
        if seed is not None:
            self.space.seed(seed)
        configs = self.space.sample_configuration(n)
        return [to_builtin(dict(c)) for c in (configs if n > 1 else [configs])]

    def to_json(self) -> str:
        return space_to_json(self.space)

    def describe(self) -> str:
        lines = [f"space {self.name} (generator {self.generator}"
                 + (f", preset {self.preset}" if self.preset else "") + ")", str(self.space).rstrip()]
        if self.fixed:
            lines.append("  Fixed: " + ", ".join(f"{k}={v!r}" for k, v in sorted(self.fixed.items())))
        return "\n".join(lines)


def _generator_of(params: GeneratorParams | RNAGParams) -> str:
    return "hnag" if isinstance(params, GeneratorParams) else "rnag"


def _base_params(generator: str, preset: str | None) -> GeneratorParams | RNAGParams:
    if preset is None:
        preset = DEFAULT_PRESET[generator]
    if preset is None:
        return GeneratorParams()
    base = hnag.preset(preset)
    if _generator_of(base) != generator:
        raise ValueError(f"preset: {preset!r} is a {_generator_of(base)} preset, the space needs a {generator} one")
    return base


def params_from_config(context: Mapping[str, Any], config: Mapping[str, Any], input_shape: tuple[int, int, int],
                       num_classes: int) -> GeneratorParams | RNAGParams:
    """Configuration (flat keys) + fixed options + data set shape -> validated generator hyperparameters."""
    generator = context.get("generator")
    if generator not in ("hnag", "rnag"):
        raise ValueError(f"generator: must be 'hnag' or 'rnag', got {generator!r}")
    base = _base_params(generator, context.get("preset"))
    base = replace(base, input_shape=tuple(int(v) for v in input_shape), num_classes=int(num_classes))
    merged = {**dict(context.get("fixed") or {}), **dict(config)}
    return type(base).from_dict(merged, base=base).validate()


def _parse_range(name: str, value: Any, hp: _HP) -> tuple[float, float]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"space option {name}: must be a number or a [lo, hi] range, got {value!r}")
    lo, hi = value
    if hp.kind == "int" and not (float(lo).is_integer() and float(hi).is_integer()):
        raise ValueError(f"space option {name}: an integer hyperparameter needs integer bounds, got {value!r}")
    if not lo < hi:
        raise ValueError(f"space option {name}: needs lo < hi (fix it with a single value instead), got {value!r}")
    if hp.log and lo <= 0:
        raise ValueError(f"space option {name}: a log-scale range needs lo > 0, got {value!r}")
    return (int(lo), int(hi)) if hp.kind == "int" else (float(lo), float(hi))


def _default(hp: _HP, lo: float, hi: float, base: Any) -> float:
    value = base if isinstance(base, (int, float)) and not isinstance(base, bool) else None
    if value is None or not lo <= value <= hi:
        value = math.sqrt(lo * hi) if hp.log else (lo + hi) / 2
    return int(round(value)) if hp.kind == "int" else float(value)


def _base_value(base: GeneratorParams | RNAGParams, name: str) -> Any:
    """The base params' value for a flat key (top_n, n_1, stage_ratio_2, op_conv5x5, ...)."""
    if hasattr(base, name):
        return getattr(base, name)
    for prefix, attr in (("stage_ratio_", "stage_ratios"), ("channel_ratio_", "channel_ratios"),
                         ("n_", "n"), ("k_", "k"), ("p_", "p")):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            values = getattr(base, attr, ())
            i = int(name[len(prefix):])
            return values[i] if i < len(values) else None
    for prefix, attr in (("merge_", "merge_probs"), ("op_", "op_probs")):
        if name.startswith(prefix):
            return getattr(base, attr, {}).get(name[len(prefix):], 0.0)
    return None


def build_space(name: str, options: Mapping[str, Any] | None = None, seed: int | None = None) -> SearchSpace:
    """A built-in space (see the module docstring) adapted by `options`; or a ConfigSpace JSON file's space
    when `name` is a path ending in .json (options then only fix generator fields)."""
    options = dict(options or {})
    if isinstance(name, (str, Path)) and str(name).endswith(".json"):
        return _custom_space(Path(name), options, seed)
    if name not in SPACES:
        raise ValueError(f"space: must be one of {', '.join(SPACE_NAMES)} or a ConfigSpace .json file, got {name!r}")
    generator, hps, _ = SPACES[name]
    preset = options.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ValueError(f"space option preset: must be a preset name, got {preset!r}")
    base = _base_params(generator, preset)
    by_name = {hp.name: hp for hp in hps}
    ranges: dict[str, tuple[float, float]] = {hp.name: (hp.lower, hp.upper) for hp in hps}
    fixed: dict[str, Any] = {}
    for key, value in options.items():
        if key in by_name:
            if isinstance(value, (list, tuple)):
                ranges[key] = _parse_range(key, value, by_name[key])
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"space option {key}: must be a number or a [lo, hi] range, got {value!r}")
                fixed[key] = value
                del ranges[key]
        elif key in _ALL_HP_NAMES[generator] and isinstance(value, (list, tuple)):
            raise ValueError(f"space option {key}: not a hyperparameter of space {name} (its hyperparameters: "
                             f"{', '.join(by_name)})")
        else:
            fixed[key] = value
    _check_fields(generator, fixed, base)
    space = ConfigurationSpace(name=name, seed=seed)
    _add_hyperparameters(space, [by_name[n] for n in ranges], ranges, fixed, base, generator)
    result = SearchSpace(name, generator, space, fixed, preset)
    # The space's default configuration must make valid hyperparameters (catches bad fixed values early).
    _check_default(result)
    return result


def _check_fields(generator: str, fixed: Mapping[str, Any], base: Any) -> None:
    names = {f.name for f in fields(type(base))}
    for key in fixed:
        if key in ("input_shape", "num_classes"):
            raise ValueError(f"space option {key}: is decided by the data set")
        if key not in names and key not in _ALL_HP_NAMES[generator]:
            raise ValueError(f"space option {key}: unknown for generator {generator} (a hyperparameter of the "
                             f"space or a field of {type(base).__name__})")


def _check_default(space: SearchSpace) -> None:
    """The default configuration must give a valid architecture (catches bad fixed values early)."""
    default = to_builtin(dict(space.space.get_default_configuration()))
    hnag.generate(space.to_params(default, (3, 32, 32), 10), 0)


def _add_hyperparameters(space: ConfigurationSpace, hps: list[_HP], ranges: Mapping[str, tuple[float, float]],
                         fixed: dict[str, Any], base: Any, generator: str) -> None:
    ranges = dict(ranges)
    # Keep K < N where one side is fixed by narrowing the other side's range.
    for k_name, n_name in _WS_PAIRS[generator]:
        if k_name in ranges and n_name in fixed:
            lo, hi = ranges[k_name]
            ranges[k_name] = (lo, min(hi, int(fixed[n_name]) - 1))
        elif n_name in ranges and k_name in fixed:
            lo, hi = ranges[n_name]
            ranges[n_name] = (max(lo, int(fixed[k_name]) + 1), hi)
        elif k_name in fixed and n_name in fixed and not fixed[k_name] < fixed[n_name]:
            raise ValueError(f"space options {k_name}, {n_name}: need {k_name} < {n_name}, got "
                             f"{fixed[k_name]} and {fixed[n_name]}")
        for name in (k_name, n_name):
            if name in ranges and ranges[name][0] > ranges[name][1]:
                raise ValueError(f"space options: no valid {name} is left with {k_name} < {n_name}")
    if generator == "hnag" and fixed.get("mid_n") == 1:  # a one-node middle level has no edges to sample
        ranges.pop("mid_p", None)
        hps = [hp for hp in hps if hp.name != "mid_p"]
    defaults = {hp.name: _default(hp, *ranges[hp.name], _base_value(base, hp.name)) for hp in hps}
    for k_name, n_name in _WS_PAIRS[generator]:
        if k_name in ranges and n_name in ranges:
            if ranges[k_name][0] >= ranges[n_name][1]:
                raise ValueError(f"space options: {k_name} in {list(ranges[k_name])} and {n_name} in "
                                 f"{list(ranges[n_name])} leave no pair with {k_name} < {n_name}")
            if defaults[k_name] >= defaults[n_name]:
                defaults[k_name] = ranges[k_name][0]
                defaults[n_name] = max(defaults[n_name], ranges[k_name][0] + 1)
    objects = {}
    for hp in hps:
        lo, hi = ranges[hp.name]
        if lo == hi:  # narrowed to a single value by a fixed partner: a constant, not a search dimension
            continue
        if hp.kind == "int":
            objects[hp.name] = UniformIntegerHyperparameter(hp.name, int(lo), int(hi), default_value=defaults[hp.name])
        else:
            objects[hp.name] = UniformFloatHyperparameter(hp.name, float(lo), float(hi), log=hp.log,
                                                          default_value=defaults[hp.name])
    for hp in hps:
        lo, hi = ranges[hp.name]
        if lo == hi:  # left with one value: a fixed field instead of a search dimension
            fixed[hp.name] = int(lo) if hp.kind == "int" else lo
    space.add(list(objects.values()))
    if generator == "hnag" and "mid_p" in objects and "mid_n" in objects and ranges["mid_n"][0] <= 1:
        space.add(GreaterThanCondition(objects["mid_p"], objects["mid_n"], 1))
    for k_name, n_name in _WS_PAIRS[generator]:
        if k_name in objects and n_name in objects and ranges[k_name][1] >= ranges[n_name][0]:
            space.add(ForbiddenEqualsRelation(objects[k_name], objects[n_name]))
            space.add(ForbiddenGreaterThanRelation(objects[k_name], objects[n_name]))


def _custom_space(path: Path, options: dict[str, Any], seed: int | None) -> SearchSpace:
    space = load_space(path)
    names = {hp.name for hp in space.values()}
    generator = None
    if space.name and str(space.name).split("-")[0] in ("hnag", "rnag"):
        generator = str(space.name).split("-")[0]
    elif names and names <= _ALL_HP_NAMES["rnag"]:
        generator = "rnag"
    elif names and names <= _ALL_HP_NAMES["hnag"]:
        generator = "hnag"
    if generator is None:
        raise ValueError(f"space: cannot tell the generator of {path} (name it 'hnag...' or 'rnag...', or use "
                         "the flat hyperparameter names of a built-in space)")
    unknown = sorted(names - _ALL_HP_NAMES[generator])
    if unknown:
        raise ValueError(f"space: {path} has hyperparameters unknown to the {generator} generator: "
                         f"{', '.join(unknown)}")
    preset = options.pop("preset", None)
    for key, value in options.items():
        if key in names:
            raise ValueError(f"space option {key}: edit the range in {path} instead")
    base = _base_params(generator, preset)
    _check_fields(generator, options, base)
    if seed is not None:
        space.seed(seed)
    result = SearchSpace(f"custom:{path.name}", generator, space, dict(options), preset)
    _check_default(result)
    return result


def space_to_json(space: ConfigurationSpace) -> str:
    buf = io.StringIO()
    space.to_json(buf, indent=1)
    return buf.getvalue()


def space_from_json(text: str) -> ConfigurationSpace:
    try:
        return ConfigurationSpace.from_json(io.StringIO(text))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"space: cannot read the ConfigSpace JSON ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def save_space(space: SearchSpace | ConfigurationSpace, path: str | Path) -> Path:
    """Write the space as ConfigSpace JSON (refuses to overwrite an existing file)."""
    cs = space.space if isinstance(space, SearchSpace) else space
    path = Path(path)
    with open(path, "x") as fh:
        fh.write(space_to_json(cs))
    return path


def load_space(path: str | Path) -> ConfigurationSpace:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"space: no such file {path}")
    return space_from_json(path.read_text())


def is_valid(space: ConfigurationSpace, config: Mapping[str, Any]) -> bool:
    """True when `config` is a valid configuration of `space` (ranges, conditions, forbidden clauses)."""
    try:
        CS.Configuration(space, values=dict(config)).check_valid_configuration()
    except Exception:  # ConfigSpace raises several exception types for invalid values
        return False
    return True

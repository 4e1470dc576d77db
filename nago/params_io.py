"""Reading generator hyperparameters from presets, YAML/JSON files and key=value overrides.

YAML is read with PyYAML's safe loader plus YAML 1.2's float syntax: PyYAML follows YAML 1.1, where `1e6`
(no dot, unsigned exponent) is text, so `--set param_budget=1e6` would be refused as a string.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads 1e6, 1E-3, .5e2 as floats (YAML 1.2)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
                              list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """Parse YAML text (safe loader, YAML 1.2 floats)."""
    return yaml.load(text, Loader=_Loader)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (line and column, counted from 1)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem

import hnag
from hnag import GeneratorParams, RNAGParams


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """KEY=VALUE options (`--set`, `--train`, `--space-option`, ...); values are YAML scalars, lists or
    mappings: 5, 0.3, cosine, [1, 2, 4], {conv3x3: 1}, none."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = load_yaml(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"{key.strip()}: cannot read the value {value!r} given to {what} as YAML "
                             f"({_yaml_problem(exc)})") from None
    return out


def read_params_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: no such file {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"config: cannot read {path} ({exc.__class__.__name__}: {exc})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"config: {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config: {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config: {path} must hold a mapping of hyperparameters, got {type(data).__name__}")
    return data


def load_params(config: str | Path | Mapping[str, Any] | None = None, preset: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> GeneratorParams | RNAGParams:
    """Hyperparameters from a preset, then a file or mapping on top, then overrides; validated.

    A mapping's `generator` key ("hnag" or "rnag") picks the type when no preset is given; a `seed` key is
    ignored here (see `load_seed`)."""
    data = dict(read_params_file(config) if isinstance(config, (str, Path)) else (config or {}))
    data.pop("seed", None)
    merged = {**data, **dict(overrides or {})}
    generator = merged.get("generator")
    if preset is not None:
        base = hnag.preset(preset)
    elif generator in (None, "hnag"):
        base = hnag.preset("hnag-small")
    elif generator == "rnag":
        base = hnag.preset("rnag-cifar")
    else:
        raise ValueError(f"generator: must be 'hnag' or 'rnag', got {generator!r}")
    return type(base).from_dict(merged, base=base).validate()


def load_seed(config: str | Path | Mapping[str, Any] | None, default: int) -> int:
    """The seed stored beside exported hyperparameters (e.g. by `nago report`), else the default."""
    if config is None:
        return default
    data = read_params_file(config) if isinstance(config, (str, Path)) else dict(config)
    seed = data.get("seed", default)
    seed = int(seed) if isinstance(seed, float) and seed.is_integer() else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
    return seed

"""Reading generator hyperparameters from presets, YAML/JSON files and key=value overrides."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import yaml

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
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"{what}: cannot read the value of {pair!r}") from None
    return out


def read_params_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: no such file {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"config: {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                         f"{str(exc).splitlines()[0]}") from None
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
    generator = data.get("generator")
    if preset is not None:
        base = hnag.preset(preset)
    elif generator in (None, "hnag"):
        base = hnag.preset("hnag-small")
    elif generator == "rnag":
        base = hnag.preset("rnag-cifar")
    else:
        raise ValueError(f"generator: must be 'hnag' or 'rnag', got {generator!r}")
    merged = {**data, **dict(overrides or {})}
    return type(base).from_dict(merged, base=base).validate()


def load_seed(config: str | Path | Mapping[str, Any] | None, default: int) -> int:
    """The seed stored beside exported hyperparameters (e.g. by `nago report`), else the default."""
    if config is None:
        return default
    data = read_params_file(config) if isinstance(config, (str, Path)) else dict(config)
    return int(data.get("seed", default))

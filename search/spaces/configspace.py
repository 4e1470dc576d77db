"""A `Space` over a ConfigSpace configuration space: the generator spaces (hnag and its variants, rnag) and the
synthetic problems. Points are plain configuration dicts of built-in Python types.

- sampling draws from ConfigSpace's prior with a seed taken from the caller's generator (so a strategy's own
  random stream decides every sample, and a replay reproduces it);
- vectors are ConfigSpace's: numbers normalised to [0, 1], categorical values as indices; an inactive
  hyperparameter (a condition, e.g. `mid_p` when `mid_n = 1`) takes its default's coordinate, and decoding
  deactivates it again;
- `mutate` and `neighbours` are ConfigSpace's one-exchange neighbourhood (one hyperparameter changes; numbers
  move by a Gaussian step of 0.2 in the unit interval), restricted to valid configurations;
- `hash` is the canonical JSON of the configuration with floats rounded to 10 significant digits.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import ConfigSpace as CS
import numpy as np
from ConfigSpace.util import deactivate_inactive_hyperparameters, get_one_exchange_neighbourhood

from .base import Space, SpaceError, canonical_json, to_builtin

__all__ = ["ConfigSpaceSpace"]


def _round(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.10g}")
    return value


class ConfigSpaceSpace(Space):
    """See the module docstring. `name`: the space's name; `configspace`: its ConfigurationSpace."""

    has_graph = False

    def __init__(self, name: str, configspace: CS.ConfigurationSpace, *, has_spec: bool = True) -> None:
        self.name = name
        self.configspace = configspace
        self.has_spec = has_spec
        self.hps = list(configspace.values())
        if not self.hps:
            raise SpaceError(f"space {name}: has no hyperparameter to search")
        self.names = [hp.name for hp in self.hps]
        self._kinds = [self._kind(hp) for hp in self.hps]
        default = configspace.get_default_configuration()
        self._fill = np.nan_to_num(np.asarray(default.get_array(), dtype=np.float64), nan=0.5)

    @staticmethod
    def _kind(hp: Any) -> int:
        if isinstance(hp, CS.CategoricalHyperparameter):
            return len(hp.choices)
        if isinstance(hp, CS.OrdinalHyperparameter):
            return len(hp.sequence)
        if isinstance(hp, CS.Constant):
            return 1
        return 0

    # -- identity and JSON --------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        self.configspace.seed(int(rng.integers(0, 2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return to_builtin(dict(self.configspace.sample_configuration()))

    def _configuration(self, config: Mapping[str, Any]) -> CS.Configuration:
        unknown = sorted(set(config) - set(self.names))
        if unknown:
            raise SpaceError(f"config: {unknown[0]} is not a hyperparameter of space {self.name} "
                             f"(it has {', '.join(self.names)})")
        try:
            c = CS.Configuration(self.configspace, values=dict(config))
            c.check_valid_configuration()
        except Exception as exc:  # ConfigSpace raises several types for illegal, forbidden or inactive values
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpaceError(f"config: not a valid configuration of space {self.name} ({first})") from None
        return c

    def is_valid(self, point: Mapping[str, Any]) -> bool:
        try:
            self._configuration(point)
            return True
        except SpaceError:
            return False

    def hash(self, point: Mapping[str, Any]) -> str:
        return canonical_json({k: _round(v) for k, v in point.items()})

    def to_config(self, point: Mapping[str, Any]) -> dict[str, Any]:
        return to_builtin(dict(point))

    def from_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return to_builtin(dict(self._configuration(config)))

    # -- vectors ------------------------------------------------------------------------------------------
    @property
    def vector_kinds(self) -> list[int]:
        return list(self._kinds)

    def to_vector(self, point: Mapping[str, Any]) -> np.ndarray:
        x = self._fill.copy()
        for i, hp in enumerate(self.hps):
            if hp.name in point and point[hp.name] is not None:
                x[i] = float(hp.to_vector(point[hp.name]))
        return x

    def from_vector(self, vector: Sequence[float]) -> dict[str, Any] | None:
        v = np.asarray(vector, dtype=np.float64).reshape(-1)
        if v.shape[0] != len(self.hps):
            raise ValueError(f"vector: space {self.name} has {len(self.hps)} coordinates, got {v.shape[0]}")
        values = {}
        for i, (hp, kind) in enumerate(zip(self.hps, self._kinds)):
            x = float(np.clip(np.rint(v[i]), 0, kind - 1)) if kind else float(np.clip(v[i], 0.0, 1.0))
            values[hp.name] = to_builtin(hp.to_value(np.float64(x)))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                config = deactivate_inactive_hyperparameters(values, self.configspace)
                config.check_valid_configuration()
        except Exception:  # forbidden (e.g. K >= N) or otherwise invalid
            return None
        return to_builtin(dict(config))

    # -- local moves --------------------------------------------------------------------------------------
    def neighbours(self, point: Mapping[str, Any], rng: np.random.Generator | None = None,
                   per_hyperparameter: int = 4) -> list[dict[str, Any]]:
        rng = rng if rng is not None else np.random.default_rng(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = self._configuration(point)
            out, seen = [], {self.hash(point)}
            for c in get_one_exchange_neighbourhood(config, seed=int(rng.integers(0, 2**31 - 1)),
                                                    num_neighbors=per_hyperparameter):
                d = to_builtin(dict(c))
                h = self.hash(d)
                if h not in seen:
                    seen.add(h)
                    out.append(d)
        return out

    def mutate(self, point: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        nbrs = self.neighbours(point, rng, per_hyperparameter=1)
        if not nbrs:
            return self.sample(rng)
        return nbrs[int(rng.integers(len(nbrs)))]

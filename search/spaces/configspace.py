"""A `Space` over a ConfigSpace configuration space: the generator spaces (hnag and its variants, rnag) and the
synthetic problems. Points are plain configuration dicts of built-in Python types.

- sampling draws from ConfigSpace's prior with a seed taken from the caller's generator (so a strategy's own
  random stream decides every sample, and a replay reproduces it);
- vectors are ConfigSpace's: numbers normalised to [0, 1], categorical values as indices; an inactive
  hyperparameter (a condition, e.g. `mid_p` when `mid_n = 1`) takes its default's coordinate, and decoding
  deactivates it again;
- `neighbours` change one active hyperparameter: every other value of a categorical one, the adjacent values
  of an integer, Gaussian steps (sd 0.2 of the range) of a float; only valid configurations (K < N) are kept
  (ConfigSpace's own one-exchange neighbourhood raises on integer ranges near their bounds); `mutate` picks
  one neighbour;
- `hash` is the canonical JSON of the configuration with floats rounded to 10 significant digits.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import ConfigSpace as CS
import numpy as np
from ConfigSpace.util import deactivate_inactive_hyperparameters

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
        base = self.to_vector(point)
        out, seen = [], {self.hash(point)}
        for i, (hp, kind) in enumerate(zip(self.hps, self._kinds)):
            if hp.name not in point or kind == 1:
                continue  # inactive or constant: changing it changes nothing
            if kind > 1:
                values = [float(k) for k in range(kind) if k != int(round(base[i]))]
            elif isinstance(hp, CS.UniformIntegerHyperparameter):
                values = [float(hp.to_vector(v)) for v in (point[hp.name] - 1, point[hp.name] + 1)
                          if hp.lower <= v <= hp.upper]
            else:
                values = list(np.clip(base[i] + rng.normal(0.0, 0.2, size=per_hyperparameter), 0.0, 1.0))
            for value in values:
                v = base.copy()
                v[i] = value
                candidate = self.from_vector(v)
                if candidate is not None and self.hash(candidate) not in seen:
                    seen.add(self.hash(candidate))
                    out.append(candidate)
        return out

    def mutate(self, point: Mapping[str, Any], rng: np.random.Generator, tries: int = 50) -> dict[str, Any]:
        """One random active hyperparameter changes (as in `neighbours`); a new sample if none can."""
        base = self.to_vector(point)
        own = self.hash(point)
        active = [i for i, (hp, kind) in enumerate(zip(self.hps, self._kinds)) if hp.name in point and kind != 1]
        for _ in range(tries if active else 0):
            i = active[int(rng.integers(len(active)))]
            hp, kind, v = self.hps[i], self._kinds[i], base.copy()
            if kind > 1:
                v[i] = float((int(round(base[i])) + int(rng.integers(1, kind))) % kind)
            elif isinstance(hp, CS.UniformIntegerHyperparameter):
                value = point[hp.name] + (1 if rng.random() < 0.5 else -1)
                if not hp.lower <= value <= hp.upper:
                    continue
                v[i] = float(hp.to_vector(value))
            else:
                v[i] = float(np.clip(base[i] + rng.normal(0.0, 0.2), 0.0, 1.0))
            candidate = self.from_vector(v)
            if candidate is not None and self.hash(candidate) != own:
                return candidate
        return self.sample(rng)

"""Synthetic test problems with known optima or Pareto fronts, and the evaluator that runs them in-process.

Every problem has a name, a space (a `ConfigSpaceSpace` without networks), its objectives (minimised), a budget
range and what a budget means, and what a search is judged against: `optimum` (one objective, with
`optimum_config`) or `front(n)` (two objectives, exact points of the true Pareto front, with a hypervolume
reference point). At the max budget every problem is its true function (counting-ones keeps the paper's
sampling noise there, see `CountingOnes`). Noise is drawn from a stream derived from (problem, evaluation seed,
configuration hash, budget), so one job always gets the same value, in any process.

- counting-ones (f; budgets 9 .. 729 samples): Falkner, Klein and Hutter, 2018, "BOHB: robust and efficient
  hyperparameter optimization at scale", ICML, sec. 5.1;
- branin-mf (f; budgets 1 .. 27, fidelity z = b / 27): Kandasamy, Dasarathy, Schneider and Poczos, 2017,
  "Multi-fidelity Bayesian optimisation with continuous approximations" (BOCA), ICML;
- zdt1 (f1, f2; one fidelity, the budget is ignored): Zitzler, Deb and Thiele, 2000, "Comparison of
  multiobjective evolutionary algorithms: empirical results", Evolutionary Computation 8(2);
- zdt1-mf (f1, f2; budgets 1 .. 27, fidelity z = b / 27): ZDT1 with our low-fidelity bias and noise, which
  vanish at the max budget (cheap evaluations point near, not at, the true Pareto set);
- park-mf (f1, f2; budgets 1 .. 27, fidelity s = b / 27): MOMF Park of Irshad, Karsch and Döpp, 2021,
  "Expected hypervolume improvement for simultaneous multi-objective and multi-fidelity optimization",
  arXiv:2112.13901 (cheap evaluations rank points almost as the max budget does).

`make_problem(name)` builds one; `PROBLEMS` maps names to classes; `true_front(problem, n)` gives the exact
front of a two-objective problem; `SyntheticEvaluator(problem)` is the `Evaluator`.
"""
from __future__ import annotations

import functools
import hashlib
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping, Sequence

import ConfigSpace as CS
import numpy as np

from ..spaces.base import SpaceError, canonical_json
from ..spaces.configspace import ConfigSpaceSpace
from .base import Evaluation, Evaluator

__all__ = ["SyntheticProblem", "CountingOnes", "BraninMF", "ZDT1", "ZDT1MF", "ParkMF", "PROBLEMS",
           "make_problem", "true_front", "noise_stream", "SyntheticEvaluator"]


def noise_stream(problem: str, seed: int, point_hash: str, budget: float) -> np.random.Generator:
    """The random stream of one job: the same (problem, seed, configuration, budget) gives the same stream in
    any process (budgets equal to 10 significant digits count as equal, so 9.000000000000002 is 9)."""
    key = canonical_json([problem, int(seed), point_hash, f"{float(budget):.10g}"])
    digest = hashlib.sha256(key.encode()).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "little")))


class SyntheticProblem(ABC):
    """Base class of the test problems (see the module docstring)."""

    name: ClassVar[str]
    objectives: ClassVar[tuple[str, ...]]
    min_budget: ClassVar[float]
    max_budget: ClassVar[float]
    #: what a budget means, one line
    fidelity: ClassVar[str]
    #: the literature source (and our changes)
    source: ClassVar[str]
    #: the known optimum of a single-objective problem
    optimum: ClassVar[float | None] = None
    #: the hypervolume reference point of a two-objective problem, and where it comes from
    reference: ClassVar[tuple[float, ...] | None] = None
    reference_rule: ClassVar[str] = ""

    def __init__(self) -> None:
        self.space = ConfigSpaceSpace(self.name, self.configspace(), has_spec=False)

    @abstractmethod
    def configspace(self) -> CS.ConfigurationSpace:
        """The problem's configuration space."""

    @abstractmethod
    def evaluate(self, point: Mapping[str, Any], budget: float, rng: np.random.Generator) -> dict[str, float]:
        """The objectives of a valid point at a budget in (0, max_budget], with the job's noise stream."""

    @abstractmethod
    def true_values(self, point: Mapping[str, Any]) -> dict[str, float]:
        """The objectives of the true function (max budget, without noise)."""

    def optimum_config(self) -> dict[str, Any] | None:
        """A configuration where a single-objective problem reaches its optimum."""
        return None

    def front(self, n: int) -> np.ndarray:
        """n points (n >= 2) of the true Pareto front, shape (n, objectives), sorted by the first objective."""
        raise NotImplementedError(f"problem {self.name}: has one objective (see `optimum`)")


class CountingOnes(SyntheticProblem):
    """Counting ones (BOHB paper, sec. 5.1): `n_categorical` binary hyperparameters c_i and `n_continuous` ones
    x_j in [0, 1]; f = -(sum_i c_i + sum_j x_j), where at budget b each x_j is estimated by the mean of b
    Bernoulli(x_j) samples (b = the budget rounded to an integer, 9 .. 729 as in the paper). The optimum -16 is
    reached exactly (x_j = 1 has no noise); at other points even the max budget is noisy, as in the paper (the
    true value, the expectation, is in the evaluation's info)."""

    name = "counting-ones"
    objectives = ("f",)
    min_budget = 9.0
    max_budget = 729.0
    fidelity = "number of Bernoulli samples that estimate each continuous dimension"
    source = ("Falkner, Klein and Hutter, 2018, BOHB: robust and efficient hyperparameter optimization at scale, "
              "ICML, sec. 5.1")
    n_categorical = 8
    n_continuous = 8
    optimum = -16.0

    def configspace(self) -> CS.ConfigurationSpace:
        space = {f"c{i}": [0, 1] for i in range(self.n_categorical)}
        space.update({f"x{j}": (0.0, 1.0) for j in range(self.n_continuous)})
        return CS.ConfigurationSpace(name=self.name, space=space)

    def evaluate(self, point: Mapping[str, Any], budget: float, rng: np.random.Generator) -> dict[str, float]:
        samples = max(int(round(budget)), 1)
        x = np.array([point[f"x{j}"] for j in range(self.n_continuous)], dtype=np.float64)
        estimate = rng.binomial(samples, x) / samples
        return {"f": -float(sum(int(point[f"c{i}"]) for i in range(self.n_categorical)) + estimate.sum())}

    def true_values(self, point: Mapping[str, Any]) -> dict[str, float]:
        return {"f": -float(sum(int(point[f"c{i}"]) for i in range(self.n_categorical))
                            + sum(float(point[f"x{j}"]) for j in range(self.n_continuous)))}

    def optimum_config(self) -> dict[str, Any]:
        return {**{f"c{i}": 1 for i in range(self.n_categorical)},
                **{f"x{j}": 1.0 for j in range(self.n_continuous)}}


def _branin(x1: float, x2: float, z: float) -> float:
    """Branin at fidelity z in [0, 1] (z = 1: the standard Branin), BOCA's form with the coefficients of its
    authors' code (Dragonfly, demos_synthetic/branin/branin.py): b, c, t move by 0.01, 0.1, 0.005 at z = 0."""
    b = 5.1 / (4 * math.pi ** 2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    t = 1 / (8 * math.pi) + 0.005 * (1 - z)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


class BraninMF(SyntheticProblem):
    """Multi-fidelity Branin (BOCA, Kandasamy et al. 2017, appendix): x1 in [-5, 10], x2 in [0, 15];
    f(x, z) = (x2 - b(z) x1^2 + c(z) x1 - 6)^2 + 10 (1 - t(z)) cos(x1) + 10 with the three fidelity coordinates
    z1 = z2 = z3 = z = budget / 27. At z = 1 it is Branin, minimum 5 / (4 pi) = 0.397887... at (pi, 2.275),
    (-pi, 12.275) and (3 pi, 2.475). Deterministic. Departure: BOCA has three independent fidelity coordinates;
    one budget moves them together here."""

    name = "branin-mf"
    objectives = ("f",)
    min_budget = 1.0
    max_budget = 27.0
    fidelity = "fidelity z = budget / 27 of all three of BOCA's fidelity coordinates"
    source = ("Kandasamy, Dasarathy, Schneider and Poczos, 2017, Multi-fidelity Bayesian optimisation with "
              "continuous approximations, ICML (BOCA), appendix")
    optimum = 5 / (4 * math.pi)

    def configspace(self) -> CS.ConfigurationSpace:
        return CS.ConfigurationSpace(name=self.name, space={"x1": (-5.0, 10.0), "x2": (0.0, 15.0)})

    def evaluate(self, point: Mapping[str, Any], budget: float, rng: np.random.Generator) -> dict[str, float]:
        return {"f": _branin(float(point["x1"]), float(point["x2"]), min(budget / self.max_budget, 1.0))}

    def true_values(self, point: Mapping[str, Any]) -> dict[str, float]:
        return {"f": _branin(float(point["x1"]), float(point["x2"]), 1.0)}

    def optimum_config(self) -> dict[str, Any]:
        return {"x1": math.pi, "x2": 2.275}


def _unit_cube(name: str, dims: int) -> CS.ConfigurationSpace:
    """The space of x1 .. x{dims} in [0, 1]."""
    return CS.ConfigurationSpace(name=name, space={f"x{i}": (0.0, 1.0) for i in range(1, dims + 1)})


def _unit_vector(point: Mapping[str, Any], dims: int) -> np.ndarray:
    """(x1, .., x{dims}) of a point of `_unit_cube`."""
    return np.array([point[f"x{i}"] for i in range(1, dims + 1)], dtype=np.float64)


class ZDT1(SyntheticProblem):
    """ZDT1 (Zitzler, Deb and Thiele 2000) in d = 6 dimensions x_i in [0, 1] (the paper uses 30; 6 keeps test
    searches short): f1 = x1, g = 1 + 9 / (d - 1) sum_{i >= 2} x_i, f2 = g (1 - sqrt(f1 / g)). The Pareto set is
    x_i = 0 for i >= 2; the front is f2 = 1 - sqrt(f1), f1 in [0, 1]. Reference point (11, 11), as BoTorch's
    ZDT problems. One fidelity: the budget is ignored."""

    name = "zdt1"
    objectives = ("f1", "f2")
    min_budget = 1.0
    max_budget = 1.0
    fidelity = "none (one fidelity; the budget is ignored)"
    source = ("Zitzler, Deb and Thiele, 2000, Comparison of multiobjective evolutionary algorithms: empirical "
              "results, Evolutionary Computation 8(2), problem T1")
    reference = (11.0, 11.0)
    reference_rule = "(11, 11), the reference point of BoTorch's ZDT problems"
    dims = 6

    def configspace(self) -> CS.ConfigurationSpace:
        return _unit_cube(self.name, self.dims)

    def _x(self, point: Mapping[str, Any]) -> np.ndarray:
        return _unit_vector(point, self.dims)

    @staticmethod
    def _zdt1(f1: float, g: float) -> float:
        return g * (1.0 - math.sqrt(f1 / g))

    def evaluate(self, point: Mapping[str, Any], budget: float, rng: np.random.Generator) -> dict[str, float]:
        return self.true_values(point)

    def true_values(self, point: Mapping[str, Any]) -> dict[str, float]:
        x = self._x(point)
        g = 1.0 + 9.0 / (self.dims - 1) * float(x[1:].sum())
        return {"f1": float(x[0]), "f2": self._zdt1(float(x[0]), g)}

    def front(self, n: int) -> np.ndarray:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n: must be an integer >= 2, got {n!r}")
        f1 = np.linspace(0.0, 1.0, n)
        return np.column_stack([f1, 1.0 - np.sqrt(f1)])


class ZDT1MF(ZDT1):
    """Multi-fidelity ZDT1 (our construction on ZDT1, Zitzler, Deb and Thiele 2000, d = 6): at fidelity
    z = budget / 27, g_z = 1 + 9 / (d - 1) sum_{i >= 2} |x_i - 0.25 (1 - z)| (the low-fidelity Pareto set sits at
    x_i = 0.25 (1 - z) instead of 0: cheap evaluations point near, not at, the true set) and
    f2 = g_z (1 - sqrt(f1 / g_z)) + N(0, (0.05 (1 - z))^2); f1 = x1 at every budget. At z = 1 bias and noise
    vanish and it is ZDT1, with its front f2 = 1 - sqrt(f1)."""

    name = "zdt1-mf"
    min_budget = 1.0
    max_budget = 27.0
    fidelity = "fidelity z = budget / 27: the low-fidelity bias and noise scale with 1 - z"
    source = ("our multi-fidelity construction on ZDT1 (Zitzler, Deb and Thiele, 2000, Evolutionary "
              "Computation 8(2))")
    shift = 0.25
    noise = 0.05

    def evaluate(self, point: Mapping[str, Any], budget: float, rng: np.random.Generator) -> dict[str, float]:
        gap = 1.0 - min(budget / self.max_budget, 1.0)
        x = self._x(point)
        g = 1.0 + 9.0 / (self.dims - 1) * float(np.abs(x[1:] - self.shift * gap).sum())
        f2 = self._zdt1(float(x[0]), g) + (float(rng.normal(0.0, self.noise * gap)) if gap > 0 else 0.0)
        return {"f1": float(x[0]), "f2": f2}


def _park(x: np.ndarray, s: float) -> np.ndarray:
    """The two modified Park functions (P1, P2; maximised) of Irshad, Karsch and Döpp at fidelity s, for points
    x of shape (n, 4) in [0, 1]^4, shape (n, 2)."""
    x1 = 1.0 - 2.0 * (x[:, 0] - 0.6) ** 2
    x2 = x[:, 1]
    x3 = 1.0 - 3.0 * (x[:, 2] - 0.5) ** 2
    x4 = 1.0 - (x[:, 3] - 0.8) ** 2
    a, b = 0.9 + 0.1 * s, 0.1 * (1.0 - s)
    t1 = (x1 + 1e-3 * (1.0 - s)) / 2.0 * np.sqrt(1.0 + (x2 + x3 ** 2) * x4 / (x1 ** 2 + 1e-4))
    t2 = (x1 + 3.0 * x4) * np.exp(1.0 + np.sin(x3))
    p1 = a * (t1 + t2 - b) / 22.0 - 0.8
    p2 = a * (5.0 - 2.0 / 3.0 * np.exp(x1 + x2) + x4 * np.sin(x3) * a - x3 + b) / 4.0 - 0.7
    return np.column_stack([p1, p2])


class ParkMF(SyntheticProblem):
    """Multi-fidelity Park (MOMF Park of Irshad, Karsch and Döpp 2021, "Expected hypervolume improvement for
    simultaneous multi-objective and multi-fidelity optimization", arXiv:2112.13901; BoTorch's `MOMFPark`):
    x1 .. x4 in [0, 1], fidelity s = budget / 27; f1 = -P1(x, s), f2 = -P2(x, s) (the paper maximises P1, P2),
    reference point (0, 0), as BoTorch's. The fidelity scales both functions by 0.9 + 0.1 s and shifts them by
    0.1 (1 - s): cheap evaluations rank points almost as the max budget does (the opposite of zdt1-mf).
    Deterministic. Departures: the paper's fidelity is a continuous search variable with its own cost model;
    here it is the budget (cost = budget).

    The front has no closed form. `front(n)` solves it by epsilon constraints: n levels t of f1, each
    min f2 s.t. f1 <= t by SLSQP from the best point of a 40^3 grid. x4 = 0.8 on the whole Pareto set (it
    maximises the transformed x4, and both P1 and P2 increase with it), so the solves are in (x1, x2, x3)."""

    name = "park-mf"
    objectives = ("f1", "f2")
    min_budget = 1.0
    max_budget = 27.0
    fidelity = "fidelity s = budget / 27 of the MOMF Park functions"
    source = ("Irshad, Karsch and Döpp, 2021, Expected hypervolume improvement for simultaneous multi-objective "
              "and multi-fidelity optimization, arXiv:2112.13901 (MOMF Park)")
    reference = (0.0, 0.0)
    reference_rule = "(0, 0), the reference point of BoTorch's MOMFPark"
    dims = 4

    def configspace(self) -> CS.ConfigurationSpace:
        return _unit_cube(self.name, self.dims)

    def _values(self, point: Mapping[str, Any], s: float) -> dict[str, float]:
        p1, p2 = _park(_unit_vector(point, self.dims)[None, :], s)[0]
        return {"f1": -float(p1), "f2": -float(p2)}

    def evaluate(self, point: Mapping[str, Any], budget: float, rng: np.random.Generator) -> dict[str, float]:
        return self._values(point, min(budget / self.max_budget, 1.0))

    def true_values(self, point: Mapping[str, Any]) -> dict[str, float]:
        return self._values(point, 1.0)

    def front(self, n: int) -> np.ndarray:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n: must be an integer >= 2, got {n!r}")
        return _park_front(n).copy()


#: x4 on the whole Pareto set of park-mf (see `ParkMF`)
_PARK_PARETO_X4 = 0.8


def _park_on_pareto_x4(x: np.ndarray) -> np.ndarray:
    """park-mf's (f1, f2) at the max budget of points (x1, x2, x3) with x4 on the Pareto set, shape (n, 2)."""
    x = np.atleast_2d(x)
    return -_park(np.column_stack([x, np.full(len(x), _PARK_PARETO_X4)]), 1.0)


@functools.lru_cache(maxsize=4)
def _park_front(n: int) -> np.ndarray:
    """`ParkMF.front(n)`, solved once per process and size (about 1 s for 200 points)."""
    from scipy.optimize import minimize

    f = _park_on_pareto_x4
    axis = np.linspace(0.0, 1.0, 40)
    grid = np.stack(np.meshgrid(axis, axis, axis), axis=-1).reshape(-1, 3)
    values = f(grid)
    low, high = values[:, 0].min(), values[np.argmin(values[:, 1]), 0]
    points = []
    for level in np.linspace(low, high, n):
        feasible = np.flatnonzero(values[:, 0] <= level + 1e-12)
        start = grid[feasible[np.argmin(values[feasible, 1])]]
        fit = minimize(lambda x: f(x)[0, 1], start, method="SLSQP", bounds=[(0.0, 1.0)] * 3,
                       constraints=[{"type": "ineq", "fun": lambda x, t=level: t - f(x)[0, 0]}],
                       options={"ftol": 1e-12, "maxiter": 300})
        x = fit.x if f(fit.x)[0, 0] <= level + 1e-9 else start
        points.append(f(x)[0])
    front = np.asarray(points)
    return front[np.argsort(front[:, 0], kind="stable")]


PROBLEMS: dict[str, type[SyntheticProblem]] = {cls.name: cls
                                               for cls in (CountingOnes, BraninMF, ZDT1, ZDT1MF, ParkMF)}


def make_problem(name: str) -> SyntheticProblem:
    """The synthetic problem called `name` (one of `PROBLEMS`)."""
    if name not in PROBLEMS:
        raise ValueError(f"problem: must be one of {', '.join(PROBLEMS)}, got {name!r}")
    return PROBLEMS[name]()


def true_front(problem: str | SyntheticProblem, n: int = 100) -> np.ndarray:
    """n exact points of a two-objective problem's true Pareto front, shape (n, 2), sorted by f1."""
    problem = make_problem(problem) if isinstance(problem, str) else problem
    return problem.front(n)


class SyntheticEvaluator(Evaluator):
    """Evaluates a synthetic problem in the master's process (`problem`: a name of `PROBLEMS` or a problem).

    A configuration outside the space or a budget outside (0, max_budget] gives a failed evaluation. The info
    of an evaluation holds the true function's values ({"true": {...}}: max budget, no noise). `context()`
    names the problem, so another process rebuilds the registered problem of that name."""

    kind = "synthetic"
    in_process = True
    #: points of the true front recorded for reports (`known`)
    FRONT_POINTS = 200

    def __init__(self, problem: str | SyntheticProblem) -> None:
        self.problem = make_problem(problem) if isinstance(problem, str) else problem
        self.space = self.problem.space

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.problem.objectives)

    def evaluate(self, config: Mapping[str, Any], budget: float, seed: int) -> Evaluation:
        try:
            point = self.space.from_config(config)
        except SpaceError as exc:
            return Evaluation("failed", error=str(exc))
        top = self.problem.max_budget
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= top * (1 + 1e-9):
            return Evaluation("failed", error=f"budget: must be a number in (0, {top:g}] for problem "
                                              f"{self.problem.name}, got {budget!r}")
        rng = noise_stream(self.problem.name, seed, self.space.hash(point), budget)
        values = self.problem.evaluate(point, float(budget), rng)
        return Evaluation("ok", values, info={"true": self.problem.true_values(point)})

    def known(self, objectives: Sequence[str]) -> dict[str, Any]:
        """What a search on `objectives` is judged against (JSON): the "optimum" of the first objective (with
        its "config" on a single-objective problem) and, for both objectives of a two-objective problem, the
        true "front" (sorted by the first objective named), its "reference" point and "reference_rule"."""
        names = [str(n) for n in objectives]
        unknown = [n for n in names if n not in self.problem.objectives]
        if not names or unknown:
            raise ValueError(f"objectives: must be among {', '.join(self.problem.objectives)} for problem "
                             f"{self.problem.name}, got {', '.join(names) or 'none'}")
        out: dict[str, Any] = {"objectives": names, "source": self.problem.source}
        if len(self.problem.objectives) == 1:
            out.update(optimum=float(self.problem.optimum), config=self.problem.optimum_config())
            return out
        cols = [self.problem.objectives.index(n) for n in names]
        front = self.problem.front(self.FRONT_POINTS)[:, cols]
        out["optimum"] = float(front[:, 0].min())   # each objective's own minimum lies on the front
        if len(names) > 1:
            front = front[np.lexsort(front.T[::-1])]
            ref = [self.problem.reference[i] for i in cols]
            out.update(front=front.tolist(), reference=ref, reference_rule=self.problem.reference_rule)
        return out

    def context(self) -> dict[str, Any]:
        return {"kind": self.kind, "problem": self.problem.name}

    def describe(self) -> str:
        return f"synthetic: {self.problem.name} ({self.problem.source})"

"""The ask/tell driver and the run log: batches, out-of-order results, exact replay on resume, mismatches."""
from __future__ import annotations

import json

import ConfigSpace as CS
import numpy as np
import pytest

from search.engine.driver import InlinePool, ReplayMismatch, drive, to_result
from search.engine.store import RunLog, RunStoreError, read_log
from search.evaluators.base import Evaluation, Evaluator
from search.spaces.configspace import ConfigSpaceSpace
from search.strategies.base import Job, Result, Strategy


def quadratic_space() -> ConfigSpaceSpace:
    cs = CS.ConfigurationSpace({"x": (0.0, 1.0), "y": (0.0, 1.0), "c": ["a", "b", "c"]})
    return ConfigSpaceSpace("quadratic", cs, has_spec=False)


class Quadratic(Evaluator):
    kind = "synthetic"
    metrics = ("f",)

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, config, budget, seed):
        self.calls += 1
        if config["c"] == "c" and config["x"] > 0.9:
            return Evaluation("failed", error="x too large for c")
        return Evaluation("ok", {"f": (config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2})


class Sampler(Strategy):
    """A test strategy whose proposals depend on its random stream and on what it was told (so a replay that
    feeds the wrong history, or none, proposes something else)."""

    name = "sampler-for-tests"

    def __init__(self, space, **kw):
        super().__init__(space, **kw)
        self.told: list[tuple[int, float]] = []

    def _ask(self, n, pending):
        out = []
        for _ in range(n):
            point = self.space.sample(self.rng)
            if self.told:  # move towards the best told point: history matters
                best = min(self.told, key=lambda t: t[1])
                point = dict(point, y=round(0.5 * point["y"] + 0.5 * (best[1] % 1.0), 6))
            out.append(self.new_job(point))
        return out

    def _tell(self, job, result):
        self.told.append((job.id, self.loss(result)))


def make(seed=0):
    return Sampler(quadratic_space(), objectives=["f"], seed=seed, max_budget=1.0)


def configs(run_dir, seed=0):
    return [json.dumps(e["config"], sort_keys=True) for e in read_log(run_dir)
            if e["event"] == "result" and e["seed"] == seed]


def test_drive_logs_every_ask_and_result(tmp_path):
    log = RunLog.create(tmp_path / "r", {"strategy": "sampler-for-tests"})
    log.start_session()
    n = drive(make(), InlinePool(Quadratic(), capacity=3), log, seed=0, evaluations=10)
    log.close()
    events = read_log(tmp_path / "r")
    results = [e for e in events if e["event"] == "result"]
    asks = [e for e in events if e["event"] == "ask"]
    assert n == 10 and len(results) == 10
    assert asks[0]["n"] == 3 and len(asks[0]["jobs"]) == 3  # batches of the pool's capacity
    assert sum(len(a["jobs"]) for a in asks) == 10
    assert {r["job"] for r in results} == set(range(10))
    assert all(r["status"] in ("ok", "failed") for r in results)


def test_resume_after_a_kill_continues_exactly(tmp_path):
    """A run stopped after 4 results (2 jobs still pending) and resumed evaluates exactly the configurations of
    an uninterrupted run with the same seed, and never repeats a finished job."""
    whole = tmp_path / "whole"
    log = RunLog.create(whole, {})
    log.start_session()
    drive(make(), InlinePool(Quadratic(), capacity=2), log, seed=0, evaluations=12)
    log.close()

    cut = tmp_path / "cut"
    log = RunLog.create(cut, {})
    log.start_session()
    seen = []
    drive(make(), InlinePool(Quadratic(), capacity=2), log, seed=0, evaluations=12,
          on_result=seen.append, stop=lambda: len(seen) >= 5)
    log.close()
    assert len(configs(cut)) == 5
    evaluator = Quadratic()
    log = RunLog.open(cut, writable=True)
    log.start_session()
    new = drive(make(), InlinePool(evaluator, capacity=2), log, seed=0, evaluations=12)
    log.close()
    assert new == 7 and evaluator.calls == 7  # the finished five are not run again
    assert configs(cut) == configs(whole)


def test_resume_with_changed_strategy_is_refused(tmp_path):
    log = RunLog.create(tmp_path / "r", {})
    log.start_session()
    drive(make(seed=0), InlinePool(Quadratic()), log, seed=0, evaluations=3)
    log.close()
    log = RunLog.open(tmp_path / "r", writable=True)
    with pytest.raises(ReplayMismatch, match="proposes other jobs than the log holds"):
        drive(make(seed=1), InlinePool(Quadratic()), log, seed=0, evaluations=5)
    log.close()


def test_seeds_share_one_log(tmp_path):
    log = RunLog.create(tmp_path / "r", {})
    log.start_session()
    for seed in (0, 1):
        drive(make(seed), InlinePool(Quadratic()), log, seed=seed, evaluations=4)
    log.close()
    assert len(configs(tmp_path / "r", 0)) == len(configs(tmp_path / "r", 1)) == 4
    assert configs(tmp_path / "r", 0) != configs(tmp_path / "r", 1)


def test_run_log_refuses_a_second_master_and_a_used_directory(tmp_path):
    log = RunLog.create(tmp_path / "r", {})
    with pytest.raises(RunStoreError, match="in use by another running search"):
        RunLog.open(tmp_path / "r", writable=True)
    log.close()
    with pytest.raises(RunStoreError, match="already holds a search"):
        RunLog.create(tmp_path / "r", {})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    with pytest.raises(RunStoreError, match="not empty and holds no search"):
        RunLog.create(tmp_path / "other", {})


def test_truncated_last_line_is_moved_aside(tmp_path):
    log = RunLog.create(tmp_path / "r", {})
    log.start_session()
    drive(make(), InlinePool(Quadratic()), log, seed=0, evaluations=3)
    log.close()
    with open(tmp_path / "r" / "log.jsonl", "a") as fh:
        fh.write('{"event": "result", "seed": 0, "jo')
    with pytest.warns(RuntimeWarning, match="truncated last line"):
        log = RunLog.open(tmp_path / "r", writable=True)
    log.close()
    assert (tmp_path / "r" / "log.jsonl.partial-1").exists()
    assert len(configs(tmp_path / "r")) == 3


def test_to_result_fails_missing_or_non_finite_objectives():
    assert to_result("ok", {"f": 1.0}, None, ["f"]) == Result("ok", {"f": 1.0})
    assert not to_result("ok", {"f": float("nan")}, None, ["f"]).ok
    assert "objective g" in to_result("ok", {"f": 1.0}, None, ["f", "g"]).error
    assert to_result("crashed", {}, "worker died", ["f"]).status == "crashed"


def test_strategy_base_refuses_several_objectives_when_single_objective():
    with pytest.raises(ValueError, match="is single-objective"):
        Sampler(quadratic_space(), objectives=["f", "g"], seed=0, max_budget=1.0)


def test_configspace_space_round_trips_and_moves():
    space = quadratic_space()
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = space.sample(rng)
        assert space.from_vector(space.to_vector(p)) == p or space.hash(space.from_vector(space.to_vector(p))) \
            == space.hash(p)
        assert space.from_config(space.to_config(p)) == p
        m = space.mutate(p, rng)
        assert space.is_valid(m) and space.hash(m) != space.hash(p)
    with pytest.raises(ValueError, match="z is not a hyperparameter"):
        space.from_config({"x": 0.1, "y": 0.2, "c": "a", "z": 1})
    assert isinstance(Job(0, {}, 1.0), Job)

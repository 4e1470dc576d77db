"""The report path (search.reports): fabricated run directories in the run store's format, and one real run
of the ask/tell driver."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.engine.store import FORMAT
from search.pareto import hypervolume
from search.reports import build_report, load_run
from search.reports.fidelity import budget_correlations, correlation_title
from search.reports.pareto_front import hypervolume_trace


def make_run(path: Path, settings: dict[str, Any], results: dict[int, list[dict[str, Any]]],
             sessions: list[dict[str, Any]] | None = None, t0: float = 1000.0) -> Path:
    """Write a run directory as the engine does: search.json, log.jsonl (an ask line before each result) and
    sessions.jsonl. Each result is a dict with config, budget and optionally status, metrics, error, info, phase,
    job (default: its position), t (default: one second apart), session (default 0)."""
    path.mkdir(parents=True)
    doc = {"format": FORMAT, "run_id": "test", "created": t0, "space_options": {}, "max_budget": 1.0,
           "evaluator": {"kind": "synthetic"}, "seeds": sorted(results), **settings}
    (path / "search.json").write_text(json.dumps(doc))
    lines = []
    for seed, rs in results.items():
        for job, r in enumerate(rs):
            t = float(r.get("t", t0 + job + 1))
            session = r.get("session", 0)
            job = r.get("job", job)
            if r.get("phase", "search") == "search":  # the engine logs asks for the search only
                lines.append({"event": "ask", "seed": seed, "n": 1, "session": session, "t": t - 0.5,
                              "jobs": [{"id": job, "config": r["config"], "budget": r["budget"], "info": {}}]})
            lines.append({"event": "result", "seed": seed, "phase": r.get("phase", "search"), "job": job,
                          "config": r["config"], "budget": r["budget"], "status": r.get("status", "ok"),
                          "metrics": r.get("metrics", {}), "error": r.get("error"), "info": r.get("info", {}),
                          "worker": "test", "eval_s": 0.1, "t": t, "session": session})
    (path / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    sessions = sessions if sessions is not None else [{"session": 0, "started": t0}]
    (path / "sessions.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sessions))
    return path


def ok(x: float, value: float, budget: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"config": {"x": x}, "budget": budget, "metrics": {"f": value, **extra}}


# --------------------------------------------------------------------------------------------- one objective
def test_single_objective_seeds_regret_and_optimum(tmp_path):
    # seed 0 finds the optimum (0.0) at evaluation 5, seed 1 at 12, seed 2 never
    values = {0: [0.9, 0.5, 0.7, 0.3, 0.0] + [0.4] * 15,
              1: [0.8] * 11 + [0.0] + [0.2] * 8,
              2: [0.6, 0.1] + [0.3] * 18}
    results = {s: [ok(i / 100, v, test_error=v + 0.05) for i, v in enumerate(vs)] for s, vs in values.items()}
    results[2][3] = {"config": {"x": 9.0}, "budget": 1.0, "status": "failed", "error": "too many parameters\nat..."}
    results[2][4] = {"config": {"x": 9.5}, "budget": 1.0, "status": "failed", "error": "too many parameters"}
    run_dir = make_run(tmp_path / "run", {"strategy": "random", "space": "quadratic", "objectives": ["f"],
                                          "known": {"optimum": 0.0}}, results)
    summary = build_report(run_dir)
    single = summary["single"]
    assert single["best_so_far"]["0"][:5] == [0.9, 0.5, 0.5, 0.3, 0.0]
    assert single["best_so_far"]["2"][-1] == pytest.approx(0.1)
    assert single["evaluations_to_optimum"] == {"0": 5, "1": 12, "2": None}
    assert single["evaluations_to_optimum_mean"] == pytest.approx(8.5)
    assert single["evaluations_to_optimum_median"] == pytest.approx(8.5)
    assert single["reached_within"] == {"300": pytest.approx(2 / 3), "1000": pytest.approx(2 / 3)}
    assert single["final_test_error"]["mean"] == pytest.approx((0.05 + 0.05 + 0.15) / 3)
    assert single["regret"]["2"][-1] == pytest.approx(0.1)
    assert summary["counts"] == {"ok": 58, "failed": 2, "crashed": 0}
    assert summary["failures"] == [{"status": "failed", "reason": "too many parameters", "count": 2, "seeds": [2]}]
    report = (run_dir / "report" / "report.md").read_text()
    for name in ("trajectory.png", "regret.png", "summary.json", "configs/best_01.json"):
        assert (run_dir / "report" / name).is_file(), name
    assert "2 of 3 seeds found it" in report
    assert json.loads((run_dir / "report" / "configs" / "best_01.json").read_text()) in (
        {"x": 0.04}, {"x": 0.11})  # the optimum's configuration (seed 0 or 1)
    assert summary["best_config"].endswith("configs/best_01.json")


def test_wall_time_leaves_out_the_gap_between_sessions(tmp_path):
    # session 0 starts at 1000 (results at 1001..1003), session 1 starts at 5000 (results at 5002, 5004)
    rs = [dict(ok(0.1 * i, 1.0 - 0.1 * i), t=t, session=s)
          for i, (t, s) in enumerate([(1001, 0), (1002, 0), (1003, 0), (5002, 1), (5004, 1)])]
    run_dir = make_run(tmp_path / "run", {"strategy": "random", "space": "q", "objectives": ["f"]}, {0: rs},
                       sessions=[{"session": 0, "started": 1000.0}, {"session": 1, "started": 5000.0}])
    run = load_run(run_dir)
    assert run.elapsed[0].tolist() == pytest.approx([1, 2, 3, 5, 7])
    assert run.wall_s[0] == pytest.approx(7)
    assert run.run_wall_s == pytest.approx(7)
    assert build_report(run_dir)["single"]["wall_s"]["0"] == pytest.approx([1, 2, 3, 5, 7])


def test_seeds_run_one_after_another_each_start_their_own_clock(tmp_path):
    first = [dict(ok(0.1, 0.5), t=1002.0), dict(ok(0.2, 0.4), t=1004.0)]
    second = [dict(ok(0.3, 0.3), t=1010.0), dict(ok(0.4, 0.2), t=1011.0)]
    run = load_run(make_run(tmp_path / "run", {"strategy": "random", "space": "q", "objectives": ["f"]},
                            {0: first, 1: second}))
    assert run.elapsed[0].tolist() == pytest.approx([2, 4])
    assert run.elapsed[1].tolist() == pytest.approx([0.5, 1.5])  # from its own first ask (t = 1009.5)


# --------------------------------------------------------------------------------------------- multi-fidelity
def test_multi_fidelity_incumbent_is_the_best_at_the_max_budget(tmp_path):
    rs = [ok(0.1, 0.05, budget=1), ok(0.2, 0.30, budget=1), ok(0.3, 0.20, budget=1),
          ok(0.1, 0.50, budget=3), ok(0.2, 0.60, budget=3), ok(0.3, 0.40, budget=3),
          ok(0.3, 0.35, budget=9),
          {"config": {"x": 0.9}, "budget": 9, "status": "failed", "metrics": {"f": 0.0}, "error": "refused"},
          ok(0.2, 0.45, budget=9), ok(0.1, 0.30, budget=9)]
    low_only = [ok(0.5, 0.01, budget=1), ok(0.6, 0.02, budget=3)]  # a seed stopped before the max budget
    run_dir = make_run(tmp_path / "run", {"strategy": "hyperband", "space": "q", "objectives": ["f"],
                                          "max_budget": 9}, {0: rs, 1: low_only})
    summary = build_report(run_dir)
    assert summary["single"]["incumbent"]["1"] is None and summary["single"]["best_so_far"]["1"] == [None, None]
    curve = summary["single"]["best_so_far"]["0"]
    assert curve[:6] == [None] * 6  # low-budget results never become the incumbent
    assert curve[6:] == pytest.approx([0.35, 0.35, 0.35, 0.30])  # the failed 0.0 at budget 9 never counts
    assert summary["single"]["cumulative_budget"]["0"][-1] == pytest.approx(3 * 1 + 3 * 3 + 4 * 9)
    pairs = {tuple(p["budgets"]): p for p in summary["budget_correlation"]}
    assert pairs[(1.0, 3.0)]["n"] == 3 and pairs[(1.0, 3.0)]["spearman"] == pytest.approx(0.5)
    assert pairs[(3.0, 9.0)]["n"] == 3 and pairs[(3.0, 9.0)]["spearman"] == pytest.approx(0.5)
    assert (run_dir / "report" / "budget_correlation.png").is_file()
    assert "| 1 | 3 | 3 | 0.5 |" in (run_dir / "report" / "report.md").read_text()


def test_budget_correlation_titles(tmp_path):
    rs = [ok(0.1, 0.1, budget=1), ok(0.2, 0.2, budget=1), ok(0.1, 0.3, budget=2), ok(0.2, 0.4, budget=2)]
    run = load_run(make_run(tmp_path / "run", {"strategy": "s", "space": "q", "objectives": ["f"],
                                               "max_budget": 2}, {0: rs}))
    (entry,) = budget_correlations(run)
    assert entry["n"] == 2 and entry["spearman"] is None
    assert correlation_title(entry) == "too few pairs (n = 2)"
    assert correlation_title({"n": 12, "spearman": 0.7123}) == "Spearman rho = 0.71 (n = 12)"
    assert correlation_title({"n": 5, "spearman": None}).startswith("Spearman rho undefined")


# --------------------------------------------------------------------------------------------- two objectives
def two(x: float, f1: float, f2: float, budget: float = 1.0) -> dict[str, Any]:
    return {"config": {"x": x}, "budget": budget, "metrics": {"f1": f1, "f2": f2}}


def test_two_objectives_fraction_of_true_hypervolume(tmp_path):
    # true front (0,1), (0.5,0.5), (1,0) with reference (2,2): hypervolume 2 + 0.75 + 0.5 = 3.25
    known = {"front": [[0, 1], [0.5, 0.5], [1, 0]], "reference": [2, 2]}
    # seed 0: (1,1) at evaluation 1, (0,1) at 60, (1,0) at 150
    s0 = [two(0.0, 1.0, 1.0)] + [two(0.5, 1.5, 1.5)] * 58 + [two(0.1, 0.0, 1.0)] + [two(0.5, 1.5, 1.5)] * 89 \
        + [two(0.2, 1.0, 0.0)] + [two(0.5, 1.5, 1.5)] * 50
    # seed 1: the whole true front at once (two of its configurations are seed 0's: pooled once)
    s1 = [two(0.1, 0.0, 1.0), two(0.4, 0.5, 0.5), two(0.2, 1.0, 0.0)] + [two(0.5, 3.0, 3.0)] * 197
    run_dir = make_run(tmp_path / "run", {"strategy": "mobo", "space": "zdt", "objectives": ["f1", "f2"],
                                          "known": known}, {0: s0, 1: s1})
    multi = build_report(run_dir)["multi"]
    assert multi["reference"] == [2, 2] and multi["reference_source"] == "the known reference point"
    assert multi["true_hypervolume"] == pytest.approx(3.25)
    # seed 0: {(0,1)} dominates (1,1): hv 2; then (1,0) adds (2-1)*(1-0) = 1: hv 3
    assert multi["hypervolume"]["0"][0] == pytest.approx(1.0)
    assert multi["hypervolume"]["0"][59] == pytest.approx(2.0)
    assert multi["hypervolume"]["0"][149] == pytest.approx(3.0)
    f = multi["fraction_of_true_hypervolume"]
    assert f["50"]["per_seed"] == {"0": pytest.approx(1 / 3.25), "1": pytest.approx(1.0)}
    assert f["100"]["mean"] == pytest.approx((2 / 3.25 + 1) / 2)
    assert f["100"]["std"] == pytest.approx(abs(2 / 3.25 - 1) / 2)
    assert f["200"]["mean"] == pytest.approx((3 / 3.25 + 1) / 2)
    assert multi["front_size"] == {"0": 2, "1": 3}
    assert multi["pooled_front_size"] == 3
    out = run_dir / "report"
    front = json.loads((out / "front.json").read_text())
    assert [[row["f1"], row["f2"]] for row in front["front"]] == [[0, 1], [0.5, 0.5], [1, 0]]
    assert (out / "front.csv").read_text().splitlines()[0].startswith("rank,seed,job,budget,f1,f2")
    for name in ("pareto.png", "hypervolume.png", "configs/front_03.json"):
        assert (out / name).is_file(), name


def test_hypervolume_trace_and_pooled_reference_with_several_budgets(tmp_path):
    assert hypervolume_trace([None, [1, 1], [2, 0.5], [1, 1], [0.5, 0.5]], np.array([3.0, 3.0])).tolist() == \
        pytest.approx([0, 4, 4.5, 4.5, 6.25])
    # the incremental trace equals the hypervolume of every prefix, in three objectives too
    Y = np.random.default_rng(0).random((40, 3))
    ref = np.array([0.9, 0.9, 0.9])
    expected = [hypervolume(Y[: i + 1], ref) for i in range(len(Y))]
    assert hypervolume_trace([list(y) for y in Y], ref).tolist() == pytest.approx(expected)
    rs = [two(0.1, 1.0, 3.0, budget=1), two(0.2, 0.0, 0.0, budget=1),  # low budget: never on the front
          two(0.1, 1.0, 2.0, budget=3), two(0.3, 3.0, 1.0, budget=3)]
    run_dir = make_run(tmp_path / "run", {"strategy": "mobohb", "space": "q", "objectives": ["f1", "f2"],
                                          "max_budget": 3}, {0: rs})
    multi = build_report(run_dir)["multi"]
    assert multi["reference"] == pytest.approx([3.2, 2.1])  # nadir (3, 2) + 10 % of the range (2, 1)
    assert multi["pooled_front_size"] == 2 and "fraction_of_true_hypervolume" not in multi
    assert "nadir" in (run_dir / "report" / "report.md").read_text()


def test_hypervolume_against_total_budget_in_a_multi_fidelity_run(tmp_path):
    # true front (0,2), (2,0) with reference (4,4): hypervolume 12
    known = {"front": [[0, 2], [2, 0]], "reference": [4, 4]}
    s0 = [two(0.1, 0, 0, budget=1), two(0.2, 1, 1, budget=1),    # low budget: never on the front
          two(0.1, 2, 3, budget=3), two(0.3, 3, 2, budget=3)]    # budgets spent 1, 2, 5, 8; hv 0, 0, 2, 3
    s1 = [two(0.5, 2, 2, budget=3), two(0.6, 0.5, 3.5, budget=3)]  # spent 3, 6; hv 4, 4.75
    run_dir = make_run(tmp_path / "run", {"strategy": "mobohb", "space": "q", "objectives": ["f1", "f2"],
                                          "max_budget": 3, "known": known}, {0: s0, 1: s1})
    multi = build_report(run_dir)["multi"]
    assert multi["cumulative_budget"] == {"0": [1, 2, 5, 8], "1": [3, 6]}
    assert multi["hypervolume"]["0"] == pytest.approx([0, 0, 2, 3])
    assert multi["hypervolume"]["1"] == pytest.approx([4, 4.75])
    assert len(multi["wall_s"]["0"]) == 4
    at = multi["hypervolume_at_budget"]  # shares of the smallest total, 6
    assert [at[k]["budget"] for k in ("0.25", "0.5", "0.75", "1.0")] == pytest.approx([1.5, 3, 4.5, 6])
    assert [at[k]["mean"] for k in ("0.25", "0.5", "0.75", "1.0")] == pytest.approx([0, 2, 2, 3.375])
    report = (run_dir / "report" / "report.md").read_text()
    assert "total budget (every result's budget counts" in report
    assert "| 100% | 6 | 3.375 ± 1.375 (n = 2) | 0.2812 ± 0.1146 (n = 2) |" in report


def test_resampled_pareto_set_front_of_means(tmp_path):
    a, b, c = {"x": 0.1}, {"x": 0.2}, {"x": 0.3}
    search = [{"config": a, "budget": 1.0, "metrics": {"error": 0.2, "memory": 10.0}},
              {"config": b, "budget": 1.0, "metrics": {"error": 0.3, "memory": 5.0}},
              {"config": c, "budget": 1.0, "metrics": {"error": 0.5, "memory": 20.0}}]

    def final(job, config, of, error=None, memory=None):
        ok = error is not None
        return {"config": config, "budget": 1.0, "phase": "final", "job": job, "status": "ok" if ok else "failed",
                "metrics": {"error": error, "memory": memory} if ok else {}, "error": None if ok else "diverged",
                "info": {"of_job": of}}

    # a's networks: (0.25, 10), (0.15, 12): mean (0.2, 11), std (0.05, 1); b's: (0.35, 12), (0.25, 12) and a
    # failure: mean (0.3, 12), dominated by a's mean although b was on the search's front
    finals = [final(-1, a, 0, 0.25, 10.0), final(-2, a, 0, 0.15, 12.0),
              final(-3, b, 1, 0.35, 12.0), final(-4, b, 1, 0.25, 12.0), final(-5, b, 1)]
    run_dir = make_run(tmp_path / "run", {"strategy": "mobo", "space": "q", "objectives": ["error", "memory"]},
                       {0: search + finals})
    summary = build_report(run_dir)
    res = summary["resampled"]
    first, second = res["configurations"]
    assert res["front_of_means"] == 1 and first["on_front_of_means"] and not second["on_front_of_means"]
    assert first["job"] == 0 and first["mean"] == pytest.approx([0.2, 11]) and first["std"] == pytest.approx([0.05, 1])
    assert second["job"] == 1 and second["mean"] == pytest.approx([0.3, 12]) and second["failed"] == 1
    assert first["search"] == [0.2, 10.0] and first["samples"] == 2
    out = run_dir / "report"
    assert json.loads((out / "configs" / "final_01.json").read_text()) == a
    assert (out / "resampled.png").is_file()
    report = (out / "report.md").read_text()
    assert "## Re-sampled Pareto set" in report and "0.2 ± 0.05" in report
    assert summary["counts"]["ok"] == 3  # the final samples are not search evaluations


# --------------------------------------------------------------------------------------------- configuration files
def test_generator_space_configs_load_as_generator_params(tmp_path):
    import hnag
    from nago.params_io import load_params, load_seed
    from search.spaces import make_space

    space = make_space("hnag", {"base_channels": 4})
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(4)]
    rs = [{"config": c, "budget": 1.0, "metrics": {"error": e, "test_error": e + 0.01}}
          for c, e in zip(configs, (0.4, 0.2, 0.3, 0.5))]
    rs[1]["info"] = {"architecture_seed": 1234567}  # the evaluator built the network from this seed
    run_dir = make_run(tmp_path / "run", {"strategy": "random", "space": "hnag", "objectives": ["error"],
                                          "space_options": {"base_channels": 4}, "input_shape": [1, 8, 8],
                                          "num_classes": 10}, {3: rs})
    summary = build_report(run_dir)
    path = Path(summary["best_config"])
    doc = json.loads(path.read_text())
    assert doc["seed"] == 1234567
    params = hnag.GeneratorParams.from_dict({k: v for k, v in doc.items() if k != "seed"}).validate()
    assert params.top_n == configs[1]["top_n"] and params.base_channels == 4
    assert params.input_shape == (1, 8, 8)
    assert load_params(path) == params and load_seed(path, 0) == 1234567  # what `nago train --config` reads
    # a log from before evaluations recorded their architecture seed: the result's seed
    assert load_seed(path.parent / "best_02.json", 0) == 3
    assert "nago train --config" in (run_dir / "report" / "report.md").read_text()


def test_custom_generator_space_is_rebuilt_from_its_context(tmp_path):
    import hnag
    from search.spaces import make_space
    from search.spaces.generators import save_space

    file = save_space(make_space("rnag").search_space, tmp_path / "my-rnag.json")
    space = make_space(str(file))
    config = space.sample(np.random.default_rng(1))
    run_dir = make_run(tmp_path / "run", {"strategy": "random", "space": space.name, "objectives": ["error"],
                                          "space_context": space.context(), "input_shape": [3, 32, 32],
                                          "num_classes": 10}, {0: [{"config": config, "budget": 1.0,
                                                                   "metrics": {"error": 0.3}}]})
    doc = json.loads(Path(build_report(run_dir)["best_config"]).read_text())
    params = hnag.RNAGParams.from_dict({k: v for k, v in doc.items() if k != "seed"})
    assert doc["generator"] == "rnag" and list(params.n) == [config[f"n_{i}"] for i in range(3)]


def test_cell_space_configs_are_arch_configs(tmp_path):
    arch = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    rs = [{"config": {"arch": arch}, "budget": 200, "metrics": {"error": 0.1}}]
    run_dir = make_run(tmp_path / "run", {"strategy": "bananas", "space": "nb201", "objectives": ["error"],
                                          "max_budget": 200, "evaluator": {"kind": "tabular"}}, {0: rs})
    assert json.loads(Path(build_report(run_dir)["best_config"]).read_text()) == {"arch": arch}


# --------------------------------------------------------------------------------------------- nothing ok
def test_report_of_a_run_without_ok_results(tmp_path):
    rs = [{"config": {"x": 0.1}, "budget": 1.0, "status": "failed", "error": "diverged"},
          {"config": {"x": 0.2}, "budget": 1.0, "status": "crashed", "error": "worker lost"}]
    run_dir = make_run(tmp_path / "run", {"strategy": "random", "space": "q", "objectives": ["f"]}, {0: rs})
    summary = build_report(run_dir)
    assert summary["counts"] == {"ok": 0, "failed": 1, "crashed": 1} and summary["best_config"] is None
    assert "No successful evaluation yet" in (run_dir / "report" / "report.md").read_text()
    mo = make_run(tmp_path / "mo", {"strategy": "mobo", "space": "q", "objectives": ["f1", "f2"]}, {0: rs})
    assert "no front" in (Path(build_report(mo)["report"])).read_text()
    empty = make_run(tmp_path / "empty", {"strategy": "random", "space": "q", "objectives": ["f"], "seeds": [0]}, {})
    summary = build_report(empty)
    assert summary["evaluations"] == 0
    assert "No evaluation has finished yet" in Path(summary["report"]).read_text()


def test_load_run_needs_objectives(tmp_path):
    run_dir = make_run(tmp_path / "run", {"strategy": "random", "space": "q", "objectives": []}, {})
    with pytest.raises(ValueError, match="objectives"):
        load_run(run_dir)


# --------------------------------------------------------------------------------------------- a real run
def test_report_of_a_real_driver_run(tmp_path):
    import ConfigSpace as CS

    from search.engine.driver import InlinePool, drive
    from search.engine.store import RunLog
    from search.evaluators.base import Evaluation, Evaluator
    from search.spaces.configspace import ConfigSpaceSpace
    from search.strategies.base import Strategy

    class Sampler(Strategy):
        name = "test-sampler"

        def _ask(self, n, pending):
            return [self.new_job(self.space.sample(self.rng)) for _ in range(n)]

    class Parabola(Evaluator):
        kind = "synthetic"
        metrics = ("f",)

        def evaluate(self, config, budget, seed):
            if config["x"] > 0.9:
                return Evaluation("failed", error="x above 0.9 refused")
            return Evaluation("ok", {"f": (config["x"] - 0.25) ** 2})

    cs = CS.ConfigurationSpace(seed=0)
    cs.add(CS.UniformFloatHyperparameter("x", 0.0, 1.0))
    space = ConfigSpaceSpace("parabola", cs, has_spec=False)
    log = RunLog.create(tmp_path / "run", {"strategy": "test-sampler", "space": "parabola", "space_options": {},
                                           "evaluator": {"kind": "synthetic"}, "objectives": ["f"],
                                           "seeds": [0, 1], "max_budget": 1.0, "known": {"optimum": 0.0}})
    log.start_session()
    for seed in (0, 1):
        drive(Sampler(space, objectives=["f"], seed=seed, max_budget=1.0), InlinePool(Parabola(), 2), log,
              seed=seed, evaluations=30)
    log.close()
    summary = build_report(tmp_path / "run")
    assert summary["per_seed"]["0"]["evaluations"] == 30 and summary["per_seed"]["1"]["unfinished"] == 0
    assert summary["counts"]["ok"] + summary["counts"]["failed"] == 60
    for seed in ("0", "1"):
        curve = [v for v in summary["single"]["best_so_far"][seed] if v is not None]
        assert curve == sorted(curve, reverse=True) and curve[-1] < 0.01
        assert all(math.isfinite(t) for t in summary["single"]["wall_s"][seed])
    assert summary["single"]["evaluations_to_optimum"] == {"0": None, "1": None}  # a continuous optimum

"""`mobohb`: multi-objective BOHB. The promotion rule on hand-made fronts, the multi-objective KDE, the MOBO
sampler inside the brackets, determinism, kill -9 and --resume of a synthetic search, and a real search on digits
with 2 workers on the Pyro pool, re-sampled Pareto set and report included."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nago
from helpers import asked, drive_to_log
from nago.cli import main
from search.engine.store import read_log
from search.evaluators.synthetic import SyntheticEvaluator
from search.pareto import non_dominated_mask
from search.strategies import make_strategy
from search.strategies.base import Job, Result, StrategyError
from search.strategies.mobohb import ParetoKDEProposer, pareto_best

REPO = Path(__file__).resolve().parents[1]
# F0 = {0}; F1 = {1, 2, 3}: two ends with a small hypervolume contribution and a knee with a large one; F2 = {4}
FRONTS = np.array([[1.0, 1.0], [2.0, 4.8], [2.2, 2.2], [4.8, 2.0], [5.0, 5.0]])
TINY = ["--space-option", "top_n=[3,5]", "--space-option", "mid_n=[1,3]", "--space-option", "bottom_n=[3,5]",
        "--space-option", "base_channels=4"]


def results(run_dir: Path, phase: str = "search") -> list[dict]:
    return [e for e in read_log(run_dir) if e["event"] == "result" and e.get("phase", "search") == phase]


# ---------------------------------------------------------------------------------------- the promotion rule
def test_whole_fronts_first_then_the_split_front_by_the_stated_rule():
    for rule in ("crowding", "hypervolume"):
        assert pareto_best(FRONTS, 1, rule=rule) == [0]           # the first front alone
        assert pareto_best(FRONTS, 4, rule=rule) == [0, 1, 2, 3]  # two whole fronts
        assert pareto_best(FRONTS, 9, rule=rule) == [0, 1, 2, 3, 4]
    # crowding keeps the ends of the split front (both infinitely crowded: the earlier one first) ...
    assert pareto_best(FRONTS, 2, rule="crowding") == [0, 1]
    assert pareto_best(FRONTS, 3, rule="crowding") == [0, 1, 3]
    assert pareto_best(FRONTS, 2, rule="crowding", keys=[4, 3, 2, 1, 0]) == [0, 3]
    # ... hypervolume drops the smallest exclusive contributor one at a time (reference: nadir (5, 5) + 10 % of
    # the range = (5.4, 5.4)): the ends add 0.12 each, the knee 6.76; the later end goes first, then the other
    assert pareto_best(FRONTS, 2, rule="hypervolume") == [0, 2]
    assert pareto_best(FRONTS, 3, rule="hypervolume") == [0, 1, 2]
    assert pareto_best(FRONTS, 3, rule="hypervolume", keys=[4, 3, 2, 1, 0]) == [0, 2, 3]
    with pytest.raises(ValueError, match="rule: must be crowding or hypervolume"):
        pareto_best(FRONTS, 2, rule="nsga")


def test_context_results_move_rows_to_later_fronts_and_are_never_chosen():
    """The four rows form one front among themselves, so choosing 3 truncates it by the rule (crowding keeps the
    ends 1 and 2, hypervolume drops the small contributor 1); an earlier result (1.5, 1.5) as context dominates
    row 3 alone, so the first front is {0, 1, 2} and the context point, and 3 comes last under either rule."""
    Y = np.array([[1.0, 2.0], [0.5, 3.0], [3.0, 1.0], [2.0, 1.8]])
    context = np.array([[1.5, 1.5]])
    assert pareto_best(Y, 3, rule="crowding") == [1, 2, 3]
    assert pareto_best(Y, 3, rule="hypervolume") == [0, 2, 3]
    for rule in ("crowding", "hypervolume"):
        assert pareto_best(Y, 3, rule=rule, context=context) == [0, 1, 2]
        assert pareto_best(Y, 9, rule=rule, context=context) == [0, 1, 2, 3]   # k >= n: every row
        assert pareto_best(Y, 3, rule=rule, context=np.empty((0, 2))) == pareto_best(Y, 3, rule=rule)
    # the split front is weighed on its rows alone: the same choice as among rows 0-2 themselves
    assert pareto_best(Y, 2, rule="crowding", context=context) == [1, 2] == pareto_best(Y[:3], 2, rule="crowding")
    assert pareto_best(Y, 2, rule="hypervolume", context=context) == [0, 2]


@pytest.mark.parametrize("promotion,promoted", [("crowding", {0, 1, 2}), ("hypervolume", {0, 1, 5})])
def test_a_rung_promotes_its_non_dominated_jobs_first_and_never_a_failure(promotion, promoted):
    """One bracket (9 points at budget 1, 3 at 3, 1 at 9): the rung's first front (jobs 0 and 1) is promoted
    whatever order the results come in; the third place goes to the second front (2, 3 and 5) by the rule:
    crowding keeps an end (2 and 3 tie at infinity: the earlier job), hypervolume the knee 5 (the ends add
    0.45 and 0.35 against the reference point (6.55, 7.05), the knee 6.76); a failed job is never promoted."""
    space = SyntheticEvaluator("zdt1").space
    st = make_strategy("mobohb", space, objectives=["f1", "f2"], seed=0, max_budget=9, min_budget=1,
                       iterations=1, promotion=promotion)
    jobs = st.ask(9)
    assert [j.budget for j in jobs] == [1.0] * 9 and not st.ask(1)
    values = {0: (1.0, 1.0), 1: (0.5, 6.0), 2: (2.0, 4.8), 3: (4.8, 2.0), 5: (2.2, 2.2), 6: (5.0, 5.0),
              7: (5.5, 5.5), 8: (6.0, 6.5)}
    for job in reversed(jobs):
        if job.id == 4:
            st.tell(job, Result.failure("diverged"))
        else:
            st.tell(job, Result.success(dict(zip(("f1", "f2"), values[job.id]))))
    rung1 = st.ask(3)
    assert {j.info["promoted_from"] for j in rung1} == promoted
    assert all(j.budget == 3.0 and j.point == jobs[j.info["promoted_from"]].point for j in rung1)


def test_select_ranks_by_the_objectives_and_breaks_ties_by_the_earlier_job():
    space = SyntheticEvaluator("zdt1").space
    st = make_strategy("mobohb", space, objectives=["f1", "f2"], seed=0, max_budget=9, min_budget=1,
                       promotion="crowding")
    point = space.sample(np.random.default_rng(0))
    told = [(Job(10 - i, point, 1.0), Result.success({"f1": f1, "f2": f2})) for i, (f1, f2) in enumerate(FRONTS)]
    # the ends of the second front (jobs 9 and 7) tie at infinite crowding: the earlier job, 7, is kept
    assert sorted(j.id for j in st.select(told, 2)) == [7, 10]
    assert sorted(j.id for j in st.select(told[::-1], 2)) == [7, 10]   # whatever order they were told in
    assert st.select([], 2) == []


@pytest.mark.parametrize("context,promoted", [("budget", [0, 1, 2]), ("rung", [0, 2, 3])])
def test_a_rung_is_sorted_among_every_result_at_its_budget(context, promoted):
    """promotion_context "budget" (the default): the rung's jobs 0-3 (the rows of the test above) are sorted
    among every other result told at budget 1 (job 4 at (1.5, 1.5) dominates job 3); "rung": among themselves."""
    space = SyntheticEvaluator("zdt1").space
    st = make_strategy("mobohb", space, objectives=["f1", "f2"], seed=0, max_budget=9, min_budget=1,
                       iterations=1, promotion_context=context)
    values = [(1.0, 2.0), (0.5, 3.0), (3.0, 1.0), (2.0, 1.8), (1.5, 1.5), (5, 5), (6, 6), (7, 7), (8, 8)]
    told = []
    for job, (f1, f2) in zip(st.ask(9), values):
        told.append((job, Result.success({"f1": f1, "f2": f2})))
        st.tell(*told[-1])
    assert sorted(j.id for j in st.select(told[:4], 3)) == promoted


# ---------------------------------------------------------------------------------------- the models
def test_the_kde_good_set_is_the_promotion_order_and_failures_are_bad():
    kinds = [0, 0]
    model = ParetoKDEProposer(kinds, rule="crowding", min_points_in_model=3)
    rng = np.random.default_rng(1)
    X = rng.random((20, 2))
    Y = np.column_stack([X[:, 0], 1 - np.sqrt(X[:, 0]) + X[:, 1]])
    for i, (x, y) in enumerate(zip(X, Y)):
        model.observe(x, None if i == 19 else y, budget=1.0)
    good, bad = model.models[1.0]
    expected = pareto_best(Y[:19], 3, rule="crowding")   # n_good = max(3, 15 % of 20)
    assert sorted(map(tuple, good.data)) == sorted(map(tuple, X[expected]))
    assert len(bad.data) == 17 and tuple(X[19]) in set(map(tuple, bad.data))
    # a result at a smaller budget than the model's is ignored, as in BOHB
    model.observe(X[0], Y[0], budget=0.5)
    assert 0.5 not in model.vectors


def test_kde_proposals_move_towards_the_pareto_set_on_zdt1_mf(tmp_path):
    """zdt1-mf's Pareto set is x2 .. x6 = 0 (at the low budgets 0.25 (1 - budget / 27)); the prior's mean is 0.5.
    Over two Hyperband rounds the model's new points lie near the set, the random ones do not (3 seeds)."""
    evaluator = SyntheticEvaluator("zdt1-mf")
    picks: dict[bool, list] = {True: [], False: []}
    for seed in range(3):
        st = make_strategy("mobohb", evaluator.space, objectives=["f1", "f2"], seed=seed, max_budget=27,
                           min_budget=1, iterations=8)
        for job in asked(drive_to_log(st, evaluator, tmp_path / str(seed), capacity=1, evaluations=None)):
            if "promoted_from" not in job["info"]:
                picks[job["info"]["model_based"]].append([job["config"][f"x{i}"] for i in range(2, 7)])
    assert len(picks[True]) > 100 and len(picks[False]) > 60   # random_fraction 1/12, and before any model
    assert np.mean(picks[True]) < 0.35 < 0.45 < np.mean(picks[False])


def test_mobo_sampler_inside_the_brackets(tmp_path):
    """sampler=mobo: random new points until a budget has min_points_in_model (d + 1 = 7) results, then the inner
    MOBO's proposals, fitted on that budget (logged), penalised around the running jobs."""
    evaluator = SyntheticEvaluator("zdt1-mf")
    fast = {"num_steps": 200, "num_burn_in_steps": 100, "keep_every": 5, "pop_size": 16, "generations": 5}
    st = make_strategy("mobohb", evaluator.space, objectives=["f1", "f2"], seed=1, max_budget=27, min_budget=1,
                       iterations=1, sampler="mobo", mobo=fast)
    jobs = asked(drive_to_log(st, evaluator, tmp_path / "r", capacity=2, evaluations=None))
    model = [j for j in jobs if j["info"].get("model_based")]
    first = next(i for i, j in enumerate(jobs) if j["info"].get("model_based"))
    assert first >= 7 and not any(j["info"]["model_based"] for j in jobs[:7])
    assert model and all(j["info"]["model_budget"] == 1.0 and "USeMO" in j["info"]["reason"] for j in model)
    assert "penalised around 1 pending" in model[0]["info"]["reason"]


def test_the_same_seed_gives_the_same_jobs(tmp_path):
    evaluator = SyntheticEvaluator("zdt1-mf")

    def jobs(seed, path, **options):
        st = make_strategy("mobohb", evaluator.space, objectives=["f1", "f2"], seed=seed, max_budget=27,
                           min_budget=1, iterations=4, **options)
        return [(j["config"], j["budget"]) for j in asked(drive_to_log(st, evaluator, path, capacity=3,
                                                                        evaluations=None))]

    assert jobs(0, tmp_path / "a") == jobs(0, tmp_path / "b")
    assert jobs(0, tmp_path / "c") != jobs(1, tmp_path / "d")
    assert jobs(0, tmp_path / "e", sampler="random") != jobs(0, tmp_path / "f")


@pytest.mark.parametrize("options,message", [
    ({"sampler": "tpe"}, "mobohb option sampler: must be kde, mobo, random"),
    ({"promotion": "nsga"}, "mobohb option promotion: must be crowding or hypervolume"),
    ({"promotion_context": "all"}, "mobohb option promotion_context: must be budget or rung"),
    ({"mobo": {"num_steps": 200}}, "mobohb option mobo: a mapping of mobo options, with sampler mobo only"),
    ({"sampler": "mobo", "mobo": {"warm_start": []}}, "mobohb option mobo: warm_start is set by mobohb"),
    ({"sampler": "mobo", "mobo": {"colour": 1}}, "mobohb option mobo: bad option"),
    ({"sampler": "mobo", "mobo": {"num_steps": 1}}, "mobohb option mobo: mobo option num_steps: must be"),
    ({"top_n_percent": 0}, "mobohb option top_n_percent: must be a number in (0, 100)"),
    ({"eta": 1}, "eta: must be a number >= 2"),
])
def test_bad_options_are_refused_in_one_line(options, message):
    space = SyntheticEvaluator("zdt1").space
    with pytest.raises(StrategyError, match=None) as info:
        make_strategy("mobohb", space, objectives=["f1", "f2"], seed=0, max_budget=9, min_budget=1, **options)
    assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(StrategyError, match="mobohb: needs at least 2 objectives"):
        make_strategy("mobohb", space, objectives=["f1"], seed=0, max_budget=9, min_budget=1)


# ---------------------------------------------------------------------------------------- final samples
def test_final_samples_resample_each_pareto_optimal_configuration_once_per_sample(tmp_path):
    """--final-samples K with two objectives: every Pareto-optimal configuration at the largest budget (one per
    configuration, in log order) is evaluated K times, jobs -(m K + 1) .. -(m K + K); a second call (a resume)
    evaluates nothing again."""
    from search.engine.driver import InlinePool
    from search.engine.store import RunLog
    from search.final import final_samples, pareto_set

    def result(job, x, f1, f2, budget=27.0, status="ok"):
        return {"event": "result", "seed": 0, "phase": "search", "job": job, "config": {"x": x}, "budget": budget,
                "status": status, "metrics": {"f1": f1, "f2": f2} if status == "ok" else {}}

    search = [result(0, 0.1, 0.0, 0.0, budget=9.0),              # best, but not at the largest budget
              result(1, 0.2, 0.2, 10.0), result(2, 0.3, 0.3, 5.0), result(3, 0.4, 0.5, 20.0),
              result(4, 0.2, 0.2, 10.0), result(5, 0.5, 0.0, 0.0, status="failed")]
    assert [r["job"] for r in pareto_set(search, ["f1", "f2"])] == [1, 2]

    class Counting:
        calls = 0

        def evaluate(self, config, budget, seed):
            from search.evaluators.base import Evaluation

            Counting.calls += 1
            return Evaluation("ok", {"f1": config["x"] + seed / 100, "f2": 1.0})

    log = RunLog.create(tmp_path / "r", {"strategy": "mobohb"})
    for event in search:
        log.append(event)
    settings = {"final_samples": 2, "objectives": ["f1", "f2"], "seeds": [0], "max_budget": 27.0}
    out = final_samples(InlinePool(Counting()), log, settings)
    assert [(r["job"], r["config"]["x"], r["info"]["of_job"]) for r in out] == [
        (-1, 0.2, 1), (-2, 0.2, 1), (-3, 0.3, 2), (-4, 0.3, 2)]
    assert Counting.calls == 4 and {r["phase"] for r in out} == {"final"}
    again = final_samples(InlinePool(Counting()), log, settings)
    assert Counting.calls == 4 and [r["job"] for r in again] == [-1, -2, -3, -4]
    log.close()


# ---------------------------------------------------------------------------------------- kill -9 and resume
def test_kill_9_then_resume_equals_the_uninterrupted_search(tmp_path):
    """A mobohb search on zdt1-mf (3 jobs at a time) killed with SIGKILL mid-run and resumed asks for exactly the
    jobs of an uninterrupted search with the same seed; no finished evaluation is lost or repeated."""
    options = {"iterations": 24}
    whole = tmp_path / "whole"
    nago.search("mobohb", whole, problem="zdt1-mf", workers=3, options=options)
    total = len(results(whole))
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "nago.cli", "search", "mobohb", "--problem", "zdt1-mf",
                             "--run-dir", str(cut), "--workers", "3", "--iterations", "24", "--quiet"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (cut / "log.jsonl").exists() and len((cut / "log.jsonl").read_bytes().splitlines()) >= 60:
            break
        time.sleep(0.002)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = results(cut)
    assert 20 <= len(before) < total
    nago.search("mobohb", cut, resume=True, workers=3)
    after = results(cut)
    assert sorted(r["job"] for r in after) == list(range(total))          # complete, nothing run twice
    assert after[:len(before)] == before                                   # finished ones kept as they were
    key = lambda r: (r["job"], json.dumps(r["config"], sort_keys=True), r["budget"], r["metrics"])  # noqa: E731
    assert sorted(map(key, after)) == sorted(map(key, results(whole)))
    assert [(j["id"], j["config"], j["budget"]) for j in asked(read_log(cut))] == \
        [(j["id"], j["config"], j["budget"]) for j in asked(read_log(whole))]


def test_the_changed_defaults_are_stored_and_an_older_search_resumes_with_the_old_ones(tmp_path):
    """A new search stores the promotion, promotion_context and random_fraction it resolved; a search stored
    before those defaults changed (its search.json without them) resumes with the old ones: its jobs are those
    of an uninterrupted search run with the old options."""
    old = {"promotion": "crowding", "promotion_context": "rung", "random_fraction": 1 / 3}
    nago.search("mobohb", tmp_path / "new", problem="zdt1-mf", options={"iterations": 2})
    stored = json.loads((tmp_path / "new" / "search.json").read_text())["options"]
    assert {k: stored[k] for k in old} == {"promotion": "hypervolume", "promotion_context": "budget",
                                           "random_fraction": 1 / 12}
    nago.search("mobohb", tmp_path / "whole", problem="zdt1-mf", options={"iterations": 8, **old})
    cut = tmp_path / "cut"
    nago.search("mobohb", cut, problem="zdt1-mf", evaluations=40, options={"iterations": 8, **old})
    settings = json.loads((cut / "search.json").read_text())
    for key in old:  # as a search created before the options were stored
        del settings["options"][key]
    (cut / "search.json").write_text(json.dumps(settings))
    nago.search("mobohb", cut, resume=True, evaluations=len(results(tmp_path / "whole")))
    jobs = lambda run: [(j["id"], j["config"], j["budget"]) for j in asked(read_log(run))]  # noqa: E731
    assert len(results(cut)) > 40 and jobs(cut) == jobs(tmp_path / "whole")
    nago.search("mobohb", tmp_path / "default", problem="zdt1-mf", options={"iterations": 8})
    assert jobs(tmp_path / "default") != jobs(tmp_path / "whole")


# ---------------------------------------------------------------------------------------- real training
@pytest.mark.timeout(400)
def test_real_search_on_digits_with_two_workers_final_samples_and_report(tmp_path):
    """mobohb over hnag on digits (error and memory), 2 local workers on the Pyro pool, one bracket (3 networks
    at 0.1 epoch, the best by the promotion rule at 0.3), then each Pareto-optimal configuration re-sampled twice;
    the report shows the front, hypervolume against epochs and the front of means, with loadable files."""
    from nago.params_io import load_params

    run_dir = tmp_path / "r"
    assert main(["search", "mobohb", "--space", "hnag", "--dataset", "digits", "--run-dir", str(run_dir),
                 "--workers", "2", "--threads", "1", "--max-budget", "0.3", "--min-budget", "0.1", "--iterations",
                 "1", "--final-samples", "2", "--quiet", *TINY]) == 0
    done = results(run_dir)
    assert [round(r["budget"], 9) for r in done] == [0.1, 0.1, 0.1, 0.3]
    assert all(r["status"] == "ok" for r in done), [r["error"] for r in done]
    assert len({r["worker"] for r in done}) == 2
    finals = results(run_dir, phase="final")
    assert len(finals) == 2 and {r["info"]["of_job"] for r in finals} == {done[-1]["job"]}
    summary = nago.report(run_dir)
    assert summary["objectives"] == ["error", "memory"]
    assert summary["multi"]["cumulative_budget"]["0"][-1] == pytest.approx(0.6)
    res = summary["resampled"]
    assert res["front_of_means"] == 1 and res["configurations"][0]["samples"] == 2
    for name in ("front_01.json", "final_01.json"):
        load_params(run_dir / "report" / "configs" / name).validate()   # what `nago train --config` reads
    low = done[:3]   # the promoted configuration is non-dominated among them
    front = non_dominated_mask([[r["metrics"]["error"], r["metrics"]["memory"]] for r in low])
    assert done[-1]["config"] in [r["config"] for r, on in zip(low, front) if on]

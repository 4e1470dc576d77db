"""The public Python API; each function is what the `nago` sub-command of the same name calls.

torch, the training package and the search stack are imported by the functions that use them, so that
`import nago` (and with it every `nago ... --help`) stays light.
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hnag
from hnag import ArchitectureSpec, GeneratorParams, RNAGParams
from hnag.render import draw, summary

from .outputs import fresh_output_dir

if TYPE_CHECKING:
    import training


def _write_spec_files(spec: ArchitectureSpec, directory: Path) -> None:
    (directory / "spec.json").write_text(spec.to_json(indent=1))
    (directory / "summary.txt").write_text(summary(spec) + "\n")
    draw(spec, directory / "architecture.png")


def generate(params: GeneratorParams | RNAGParams, seed: int = 0, out_dir: str | Path | None = None
             ) -> ArchitectureSpec:
    """Hyperparameters + seed -> spec; with `out_dir`, also writes spec.json, summary.txt, architecture.png."""
    spec = hnag.generate(params, seed)
    if out_dir is not None:
        with fresh_output_dir(out_dir) as tmp:
            _write_spec_files(spec, tmp)
    return spec


def train(params: GeneratorParams | RNAGParams, seed: int = 0, dataset: str = "digits",
          config: training.TrainConfig | None = None, data_dir: str | None = None, val_fraction: float = 0.1,
          cutout: int = 0, limit: int | None = None, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Generate a network for the dataset's shape, train it, evaluate and measure it.

    Returns the metrics dict (accuracies, params, MACs, memory per sample, latency, times). With `out_dir`,
    writes metrics.json, params.json (hyperparameters + seed, accepted by `nago train --config`),
    model.pt (state dict), spec.json, summary.txt and architecture.png; all of them or none."""
    import torch

    import training
    from search.evaluators.training import build_and_train

    config = config or training.TrainConfig(epochs=10)
    bundle = training.load_dataset(dataset, data_dir=data_dir, val_fraction=val_fraction, seed=seed,
                                   cutout=cutout, limit=limit)
    with (fresh_output_dir(out_dir) if out_dir is not None else nullcontext()) as tmp:
        spec = hnag.generate(replace(params, input_shape=tuple(bundle.input_shape), num_classes=bundle.num_classes),
                             seed)
        model, result, measurements = build_and_train(spec, seed, bundle, config)
        metrics = {"spec_hash": spec.hash(), "generator": spec.generator, "seed": seed, **result.to_dict(),
                   **{f"cost_{k}": v for k, v in measurements.to_dict().items()},
                   "cost_macs_analytic": hnag.count_macs(spec), "dataset": dataset,
                   "train_config": asdict(config)}
        if tmp is not None:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
            (tmp / "params.json").write_text(json.dumps({**params.to_dict(), "seed": seed}, indent=1))
            torch.save(model.state_dict(), tmp / "model.pt")
            _write_spec_files(spec, tmp)
    return metrics


def search(strategy: str, run_dir: str | Path, **request: Any) -> dict[str, Any]:
    """Run (or with `resume=True` continue) a search: what `nago search STRATEGY` does.

    Keyword arguments are the fields of `search.run.SearchRequest` (space, space_options, dataset, benchmark,
    problem, objectives, seed, seeds, evaluations, min_budget, max_budget, options, workers,
    fixed_architecture, ...)."""
    from search.run import SearchRequest, run_search

    return run_search(SearchRequest(strategy=strategy, run_dir=str(run_dir), **request))


def report(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Write the report of any run directory (what `nago report` does); returns its summary."""
    from search.reports import build_report

    return build_report(run_dir, out_dir)

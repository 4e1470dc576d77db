"""Configurations of a run written as files under report/configs/.

- generator spaces (hnag, hnag-ops, hnag-ratios, hnag-full, rnag, or a ConfigSpace .json file): the generator
  hyperparameters (`GeneratorParams` / `RNAGParams`, `.to_dict()`) plus "seed", the seed the evaluator built
  the network with (the evaluation's `info["architecture_seed"]`; the result's seed in logs written before
  evaluations recorded it); `nago train --config FILE` trains that very network. The data set's
  `input_shape` and `num_classes` come from the settings ("input_shape"/"num_classes", or the evaluator's); when
  neither holds them, CIFAR's (3, 32, 32) and 10 are written and the report says so.
- cell spaces (nb201, nb101): the {"arch": ...} configuration;
- any other space (synthetic problems): the configuration itself.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from .markdown import Output
from .run import Run

__all__ = ["ConfigWriter", "GENERATOR_SPACES", "CELL_SPACES"]

GENERATOR_SPACES = ("hnag", "hnag-ops", "hnag-ratios", "hnag-full", "rnag")
CELL_SPACES = ("nb201", "nb101")
DEFAULT_SHAPE = (3, 32, 32)
DEFAULT_CLASSES = 10


class ConfigWriter:
    """Writes configuration files for one run; `note` says what was assumed or why a file is plain."""

    def __init__(self, run: Run) -> None:
        self.note = ""
        self.kind = "plain"
        self._context: dict[str, Any] | None = None
        # the space's own context (what the run built it from: a custom space's file path, not its display name)
        context = run.settings.get("space_context") or {"space": run.settings.get("space"),
                                                         "options": run.settings.get("space_options")}
        space = str(context.get("space") or "")
        if space in CELL_SPACES:
            self.kind = "cell"
        elif space in GENERATOR_SPACES or space.endswith(".json"):
            try:
                from ..spaces import make_space

                self._context = make_space(space, context.get("options") or {}).search_space.context()
                self.kind = "generator"
            except (ValueError, OSError) as exc:  # e.g. a custom space file that is not here any more
                self.note = (f"The generator space {space} could not be rebuilt ({str(exc).splitlines()[0]}): the "
                             "files hold the configurations, not generator hyperparameters.")
            evaluator = run.settings.get("evaluator") or {}
            shape = run.settings.get("input_shape") or evaluator.get("input_shape")
            classes = run.settings.get("num_classes") or evaluator.get("num_classes")
            if self.kind == "generator" and (shape is None or classes is None):
                self.note = (f"The settings do not record the data set's input shape and classes: the files assume "
                             f"input_shape {list(DEFAULT_SHAPE)} and {DEFAULT_CLASSES} classes (edit them for "
                             "another data set).")
            self.shape = tuple(int(v) for v in (shape or DEFAULT_SHAPE))
            self.classes = int(classes or DEFAULT_CLASSES)

    def document(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The file content for a result line (raises ValueError for a configuration without valid
        hyperparameters)."""
        config = dict(record["config"])
        if self.kind != "generator":
            return config
        from ..spaces import params_from_config

        params = params_from_config(self._context or {}, config, self.shape, self.classes)
        seed = (record.get("info") or {}).get("architecture_seed", record.get("seed"))
        return {**params.to_dict(), "seed": int(seed or 0)}

    def write(self, out: Output, name: str, record: Mapping[str, Any]) -> str:
        """Write configs/<name>.json; returns its path relative to the report, or '- (reason)'."""
        try:
            doc = self.document(record)
        except ValueError as exc:
            return f"- ({str(exc).splitlines()[0]})"
        path = out.text(f"configs/{name}.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")
        return str(path.relative_to(out.root))

    def usage(self, paths: list[str]) -> str:
        """One Markdown sentence on what the written files (`paths`, as `write` returned them) are and how to
        use them; empty when none was written."""
        written = [p for p in paths if not p.startswith("-")]
        if not written:
            return self.note
        what = {"generator": f"generator hyperparameters and seed: `nago train --config report/{written[0]}` "
                             "trains one",
                "cell": "cell configurations ({\"arch\": ...})",
                "plain": "configurations as the search logged them"}[self.kind]
        return f"Files under `configs/` hold {what}." + (f" {self.note}" if self.note else "")

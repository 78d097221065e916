"""What `deepgen eval`, `compare` and `augment` return (and print): one result type per command.

Each holds `rows` (one per run, model and seed, or classifier variant and seed), whose scores are keyed by the
plain metric name (`row.fid`, `row["fid"]`), the feature extractor they were measured with (`features`), the paths
of the files written (`outputs`), and the text the command prints (`str(result)`). `to_pandas()` gives the rows
as a DataFrame when pandas is installed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepgen.errors import ConfigError

if TYPE_CHECKING:
    import pandas

    from deepgen.eval.metrics import Metric


class Row(Mapping[str, Any]):
    """One row of a result: `row.fid` and `row["fid"]` alike; `row.features` is the feature extractor of its scores
    (e.g. 'classifier:digits'), `row.keys()` its columns."""

    def __init__(self, values: Mapping[str, Any], features: str = ""):
        self._values = dict(values)
        self.features = features

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"this row has no {name!r}; it has {', '.join(self._values)}") from None

    def __repr__(self) -> str:
        return f"Row({self._values!r}, features={self.features!r})"


def metric_row(fixed: Mapping[str, Any], metrics: list[Metric]) -> Row:
    """`fixed` columns, then each metric's value by its plain name; the row's features are those of its first
    metric measured in a feature space (FID's)."""
    features = next((m.features for m in metrics if m.features), "")
    return Row({**fixed, **{m.name: m.value for m in metrics}}, features)


@dataclass
class Results:
    """Rows, the feature extractor, the files written and the printed text of one command."""

    rows: list[Row]
    features: str = ""
    outputs: dict[str, Path] = field(default_factory=dict)
    text: str = ""

    def __str__(self) -> str:
        return self.text

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> Row:
        return self.rows[index]

    def to_pandas(self) -> pandas.DataFrame:
        """The rows as a DataFrame (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ConfigError("to_pandas() needs pandas: pip install pandas (or use .rows)") from None
        return pandas.DataFrame([dict(r) for r in self.rows])


@dataclass
class EvalResults(Results):
    """`deepgen.evaluate` / `deepgen eval`: one row per run (run, model, step, then the scores: fid, kid, precision,
    recall, ...); `metrics[run]` keeps every Metric with its sample counts, seed and method; `outputs` maps each run
    to its metrics.json."""

    metrics: dict[Path, list[Metric]] = field(default_factory=dict)


@dataclass
class CompareResults(Results):
    """`deepgen.compare` / `deepgen compare`: one row per model and seed (model, seed, steps, images_seen, wall_s,
    parameters, then the scores), the real-data floor first (model 'real data'); `outputs`: csv, markdown, html."""


@dataclass
class AugmentResults(Results):
    """`deepgen.augment` / `deepgen augment`: one row per classifier, variant and seed (accuracy, balanced_accuracy,
    macro_f1, ...), including seeds an earlier session of the same --out finished; `outputs`: results.csv,
    summary.md, report.html, ..."""


def read_csv_rows(path: Path) -> list[Row]:
    """A results CSV as rows, numbers as int/float and empty cells as None."""
    with path.open(newline="") as f:
        return [Row({k: cell(v) for k, v in row.items()}) for row in csv.DictReader(f)]


def cell(text: str) -> Any:
    if text == "":
        return None
    for tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            pass
    return text

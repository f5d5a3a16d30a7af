"""Data layer speed and memory: our validation + feature fitting vs. Evidently's data summary.

    python bench/data_layer.py [--csv PATH] [--target income] [--repeats 3]

Ours: read the CSV as text, detect the schema, enforce it with pandera, run every check (nulls,
types, single-column leakage, statistics), split, fit the feature pipeline and encode train and
validation. Peer: Evidently 0.7's DataSummaryPreset report (column statistics, missing values,
the data-quality part of what users reach for) over the same file, read with pandas.

Each measurement runs in a fresh subprocess, after imports and a warm-up on 2,000 rows (so lazily
loaded code is not counted as data): wall time (median of --repeats runs,
without tracing), peak traced allocations (tracemalloc, a separate run) and the growth of the
process's peak RSS. The target of issue 3: under 15 s and under 10x the CSV size on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data")) / "adult.csv"


def run_ours(csv: Path, target: str) -> None:
    from tabular_mlops.config import DatasetConfig, FeatureConfig, SplitConfig, ValidationConfig
    from tabular_mlops.data.prepare import prepare, read_dataset
    from tabular_mlops.data.splitting import split_frame
    from tabular_mlops.features.matrices import fit_feature_set
    from tabular_mlops.features.preprocessing import build_preprocessor

    config = DatasetConfig.for_csv(csv, target)
    raw, ingestion = read_dataset(config)
    prepared = prepare(raw, config, ValidationConfig(), ingestion.to_dict())
    del raw
    splits = split_frame(prepared.frame, target, prepared.schema.task, SplitConfig())
    fit_feature_set(
        build_preprocessor(prepared.schema, FeatureConfig()), splits.train, splits.validation, prepared.schema
    )


def run_evidently(csv: Path, target: str) -> None:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataSummaryPreset

    frame = pd.read_csv(csv, na_values=["?"])
    snapshot = Report([DataSummaryPreset()]).run(current_data=frame, reference_data=None)
    snapshot.dict()


def _imports(side: str) -> None:
    if side == "ours":
        import pandera.pandas  # noqa: F401
        import sklearn.ensemble  # noqa: F401

        import tabular_mlops.data.prepare
        import tabular_mlops.features.preprocessing  # noqa: F401
    else:
        import evidently.presets  # noqa: F401


def child(side: str, csv: Path, target: str, trace: bool) -> dict[str, float]:
    import resource

    sys.path.insert(0, str(ROOT))
    _imports(side)
    work = run_ours if side == "ours" else run_evidently
    # Warm up on the first 2,000 rows, so lazily imported code is not counted as data memory.
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "warmup.csv"
        with open(csv, encoding="utf-8") as source, open(sample, "w", encoding="utf-8") as target_file:
            for i, line in enumerate(source):
                if i > 2000:
                    break
                target_file.write(line)
        work(sample, target)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    work(csv, target)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) * 1024
    return {"seconds": elapsed, "traced_peak": float(peak), "rss_growth": float(rss)}


def measure(side: str, csv: Path, target: str, trace: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", side, "--csv", str(csv), "--target", target]
        + (["--trace"] if trace else []),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--target", default="income")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["ours", "evidently"])
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.csv, args.target, args.trace)))
        return
    size = args.csv.stat().st_size
    rows = []
    for side, label in (("ours", "ours: validate + fit features"), ("evidently", "Evidently DataSummaryPreset")):
        timings = [measure(side, args.csv, args.target, trace=False) for _ in range(args.repeats)]
        traced = measure(side, args.csv, args.target, trace=True)
        rows.append(
            (
                label,
                statistics.median(t["seconds"] for t in timings),
                traced["traced_peak"] / size,
                statistics.median(t["rss_growth"] for t in timings) / size,
            )
        )
    print(f"\n{args.csv.name}: {size / 1e6:.1f} MB CSV, {os.cpu_count()} cores, median of {args.repeats} runs\n")
    print("| side | seconds | peak traced memory / CSV size | peak RSS growth / CSV size |")
    print("|---|---|---|---|")
    for label, seconds, traced_ratio, rss_ratio in rows:
        print(f"| {label} | {seconds:.2f} | {traced_ratio:.1f}x | {rss_ratio:.1f}x |")


if __name__ == "__main__":
    main()

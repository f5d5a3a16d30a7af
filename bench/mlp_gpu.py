"""The PyTorch MLP on Adult: CPU (fp32) and, when CUDA is present, GPU with mixed precision.

    python bench/mlp_gpu.py [--epochs 30] [--batch-size 512 2048]

Prints samples per second (training), fit seconds, epochs run and the test ROC AUC for each
device and batch size, all in one run on the same features (the project's feature pipeline on
the bundled Adult data, 70/15/15 split, seed 42). Needs only numpy, pandas, scikit-learn, PyyAML
and torch, so it runs on a bare GPU machine; it finishes in well under 4 minutes on one GPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import torch
    from sklearn.metrics import roc_auc_score

    from tabular_mlops.config import FeatureConfig, SplitConfig
    from tabular_mlops.data.coercion import to_typed_frame
    from tabular_mlops.data.ingestion import read_csv_text
    from tabular_mlops.data.schema import detect_schema
    from tabular_mlops.data.splitting import split_frame
    from tabular_mlops.data.validation import normalise_target
    from tabular_mlops.features.matrices import fit_feature_set
    from tabular_mlops.features.preprocessing import build_preprocessor
    from tabular_mlops.models.mlp import TorchMLPClassifier

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--cpu-threads", type=int, default=min(os.cpu_count() or 1, 8))
    args = parser.parse_args()

    started = time.monotonic()
    raw, _ = read_csv_text(ROOT / "data" / "adult.csv.gz")
    raw = normalise_target(raw, "income", "binary")
    schema = detect_schema(raw, "income", task="binary", positive_class=">50K")
    frame = to_typed_frame(raw, schema)
    splits = split_frame(frame, "income", "binary", SplitConfig())
    preprocessor = build_preprocessor(schema, FeatureConfig(max_onehot_categories=60))
    features = fit_feature_set(preprocessor, splits.train, splits.validation, schema)
    X_test = preprocessor.transform(splits.test)
    y_test = splits.test["income"].to_numpy() == ">50K"
    print(
        f"Adult: {features.X_train.shape[0]} training rows x {features.n_features} inputs "
        f"(prepared in {time.monotonic() - started:.1f} s); torch {torch.__version__}, "
        f"CUDA {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available'}"
    )
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for batch in args.batch_size:
            model = TorchMLPClassifier(
                hidden_sizes=(512, 256),
                dropout=0.1,
                batch_size=batch,
                max_iter=args.epochs,
                n_iter_no_change=args.epochs,
                learning_rate=1e-3 * (batch / 512) ** 0.5,
                lr_schedule="onecycle",
                device=device,
                amp=True,
                n_threads=args.cpu_threads if device == "cpu" else None,
                random_state=42,
            )
            model.fit(features.X_train, features.y_train, eval_set=(features.X_validation, features.y_validation))
            if device == "cuda":
                torch.cuda.synchronize()
            auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, list(model.classes_).index(">50K")])
            rows.append(
                (device, model.amp_dtype_, batch, model.n_iter_, model.samples_per_second_, model.fit_seconds_, auc)
            )
            print(
                f"  {device} batch {batch}: {model.samples_per_second_:,.0f} samples/s, test ROC AUC {auc:.4f}",
                flush=True,
            )
    print("\n| device | precision | batch | epochs | samples/s | fit s | test ROC AUC |")
    print("|---|---|---|---|---|---|---|")
    for device, dtype, batch, epochs, rate, seconds, auc in rows:
        print(f"| {device} | {dtype} | {batch} | {epochs} | {rate:,.0f} | {seconds:.1f} | {auc:.4f} |")
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()

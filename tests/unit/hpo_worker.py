"""A search process for the resume test: python hpo_worker.py STORAGE STUDY TIMEOUT_S [N_TRIALS]."""

from __future__ import annotations

import sys
from dataclasses import replace

import pandas as pd

from tabular_mlops.config import HPOConfig, SplitConfig, TrainingConfig
from tabular_mlops.data.prepare import load_typed
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.features.matrices import fit_feature_set
from tabular_mlops.features.preprocessing import build_preprocessor
from tabular_mlops.models.tuning import tune
from tests.conftest import BUNDLED_ADULT
from tests.unit.test_tuning import CANDIDATES

if __name__ == "__main__":
    storage, study, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    n_trials = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    prepared = load_typed(str(BUNDLED_ADULT), "income")
    frame: pd.DataFrame = prepared.frame.sample(n=3000, random_state=7).reset_index(drop=True)
    splits = split_frame(frame, "income", "binary", SplitConfig())
    features = fit_feature_set(build_preprocessor(prepared.schema), splits.train, splits.validation, prepared.schema)
    hpo = replace(
        HPOConfig(), storage=storage, timeout_s=timeout, n_trials=n_trials, cv_folds=3, ensemble=False, heartbeat_s=1
    )
    tune(features, prepared.schema, TrainingConfig(candidates=CANDIDATES, n_jobs=2, hpo=hpo), study_name=study)

from pathlib import Path

import pytest

from tabular_mlops.config import (
    DatasetConfig,
    load_dataset_config,
    read_yaml,
    slugify,
    training_config_from_dict,
)
from tabular_mlops.errors import ConfigError
from tests.conftest import PROJECT_ROOT


def test_bundled_dataset_config_points_at_bundled_file() -> None:
    config = load_dataset_config(PROJECT_ROOT / "configs/datasets/adult.yaml", project_root=PROJECT_ROOT)
    assert config.target == "income"
    assert config.positive_class == ">50K"
    assert config.na_values == ("?",)
    assert Path(config.path).is_file()
    assert config.model_name == "adult-income"


def test_training_yaml_parameters_parse() -> None:
    params = read_yaml(PROJECT_ROOT / "configs/training.yaml")["parameters"]["training"]
    config = training_config_from_dict(params)
    assert [c.family for c in config.candidates] == [
        "logistic_regression",
        "lightgbm",
        "xgboost",
        "mlp",
        "random_forest",
    ]
    assert config.hpo.timeout_s == 60 and config.hpo.enabled
    assert config.split.seed == 42


def test_unknown_dataset_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: x\npath: x.csv\ntarget: y\ntargte: z\n")
    with pytest.raises(ConfigError, match=r"d\.yaml.*'targte'"):
        load_dataset_config(path)


def test_missing_required_dataset_key(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: x\npath: x.csv\n")
    with pytest.raises(ConfigError, match="target"):
        load_dataset_config(path)


def test_invalid_task_rejected() -> None:
    with pytest.raises(ConfigError, match="task must be one of"):
        DatasetConfig.from_dict({"name": "x", "path": "x.csv", "target": "y", "task": "clustering"})


def test_bad_split_ratio_rejected() -> None:
    with pytest.raises(ConfigError, match=r"split\.test_size"):
        training_config_from_dict({"split": {"test_size": 0.7}})


def test_unknown_training_key_rejected() -> None:
    with pytest.raises(ConfigError, match="candidtes"):
        training_config_from_dict({"candidtes": []})


def test_not_yaml_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml(path)


def test_csv_config_names_model_after_file_and_target() -> None:
    config = DatasetConfig.for_csv("/data/Telco Churn.csv", "churn")
    assert config.model_name == "telco-churn-churn"
    assert slugify("  ") == "model"

"""CSV -> validated data -> split -> features -> candidates -> best model -> test metrics -> registry."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from steps import (
    data_quality_gate,
    evaluate_model,
    fit_features,
    load_dataset,
    register_model,
    split_dataset,
    train_model,
    validate_dataset,
)


@pipeline
def training_pipeline(
    dataset: dict[str, Any],
    data_hash: str,
    training: dict[str, Any],
    validation: dict[str, Any] | None = None,
    features: dict[str, Any] | None = None,
) -> None:
    """Validate, train, select on validation, evaluate on test, register in MLflow and ZenML."""
    raw_data, ingestion_report = load_dataset(dataset=dataset, data_hash=data_hash)
    clean_data, schema, validation_report = validate_dataset(
        raw_data=raw_data, ingestion_report=ingestion_report, dataset=dataset, validation=validation or {}
    )
    data_quality_gate(validation_report=validation_report, schema=schema)
    train, validation_split, test = split_dataset(
        clean_data=clean_data,
        schema=schema,
        split=training.get("split", {}),
        dataset=dataset,
        after="data_quality_gate",
    )
    preprocessor, feature_set, _ = fit_features(
        train=train,
        validation=validation_split,
        schema=schema,
        features=features or {},
        seed=training.get("split", {}).get("seed", 42),
    )
    model, best_family, _, _ = train_model(
        feature_set=feature_set, preprocessor=preprocessor, schema=schema, training=training
    )
    test_metrics = evaluate_model(model=model, test=test, schema=schema)
    register_model(
        model=model,
        train=train,
        schema=schema,
        best_family=best_family,
        test_metrics=test_metrics,
        dataset=dataset,
        data_hash=data_hash,
    )

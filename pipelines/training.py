"""CSV -> validated data -> split -> features -> model search -> test metrics, SHAP -> registry ->
promotion gates -> model card."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines.docker import SETTINGS
from steps import (
    data_quality_gate,
    evaluate_model,
    explain_model,
    fit_features,
    load_dataset,
    promote_model,
    register_model,
    split_dataset,
    train_model,
    validate_dataset,
    write_model_card,
)


@pipeline(settings=SETTINGS)
def training_pipeline(
    dataset: dict[str, Any],
    data_hash: str,
    training: dict[str, Any],
    validation: dict[str, Any] | None = None,
    features: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    gates: dict[str, Any] | None = None,
) -> None:
    """Validate, search, evaluate once on test, explain, register, gate to staging, document."""
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
    model, training_summary, _, _ = train_model(
        feature_set=feature_set,
        preprocessor=preprocessor,
        schema=schema,
        training=training,
        evaluation=evaluation or {},
    )
    test_metrics, metric_intervals, _ = evaluate_model(
        model=model, test=test, schema=schema, evaluation=evaluation or {}
    )
    _, explanation = explain_model(model=model, train=train, schema=schema, evaluation=evaluation or {})
    registration = register_model(
        model=model,
        train=train,
        schema=schema,
        training_summary=training_summary,
        test_metrics=test_metrics,
        dataset=dataset,
        data_hash=data_hash,
    )
    gate_report = promote_model(
        registration=registration,
        test=test,
        schema=schema,
        test_metrics=test_metrics,
        gates=gates or {},
        dataset=dataset,
    )
    write_model_card(
        registration=registration,
        gate_report=gate_report,
        training_summary=training_summary,
        test_metrics=test_metrics,
        metric_intervals=metric_intervals,
        explanation=explanation,
        schema=schema,
        validation_report=validation_report,
        dataset=dataset,
        data_hash=data_hash,
    )

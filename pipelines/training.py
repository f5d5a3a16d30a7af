"""CSV -> validated data -> split -> candidates -> best model -> test metrics -> registry."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from steps import evaluate_model, load_dataset, register_model, split_dataset, train_model, validate_dataset


@pipeline
def training_pipeline(dataset: dict[str, Any], data_hash: str, training: dict[str, Any]) -> None:
    """Train, select on validation, evaluate on test, register in MLflow and ZenML."""
    raw_data = load_dataset(dataset=dataset, data_hash=data_hash)
    clean_data, schema = validate_dataset(raw_data=raw_data, dataset=dataset)
    train, validation, test = split_dataset(clean_data=clean_data, schema=schema, split=training.get("split", {}))
    model, best_family, _, _ = train_model(train=train, validation=validation, schema=schema, training=training)
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

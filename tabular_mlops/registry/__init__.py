"""Logging models to MLflow, registering them, and finding them again."""

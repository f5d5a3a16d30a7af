"""Metrics, plots and reports on held-out data."""

"""Drift monitoring: new data and the model's predictions on it, compared with the training rows."""

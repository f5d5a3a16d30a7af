"""Reading, checking and splitting tabular data."""

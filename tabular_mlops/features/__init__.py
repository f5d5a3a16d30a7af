"""Feature engineering: one ColumnTransformer, fitted on training rows only."""

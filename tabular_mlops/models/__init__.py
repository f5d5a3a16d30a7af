"""Model families, candidate training and selection."""

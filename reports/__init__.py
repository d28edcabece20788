"""Tables, plots and reports rendered from stored metrics files (never recomputed)."""

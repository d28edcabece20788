"""`admbench perf`: side-by-side measurements printed as ratios in one run (never timed unit tests)."""

"""The evaluator: archives -> features -> statistics -> metrics (FID, sFID, IS, precision, recall)."""

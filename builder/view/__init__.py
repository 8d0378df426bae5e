"""`serve`: a live page of a spec (its diagram, checked as it is edited) and of
training runs (their curves and metrics)."""

"""Reporting: metrics as data, figures, and the recorded
results that summaries and the README are written from."""

"""Figures drawn from run data: shared by the callbacks (during a run) and the report."""

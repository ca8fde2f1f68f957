"""Figures and numbers computed from finished runs."""

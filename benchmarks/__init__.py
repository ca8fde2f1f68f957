"""Benchmarks of the template (not part of the installed package): `make bench`."""

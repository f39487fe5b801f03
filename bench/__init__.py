"""Benchmarks. ``python -m bench`` runs every one and prints one table; none is a timed unit test."""

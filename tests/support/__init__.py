"""Test infrastructure: real local registries, a token server, image pushing and fault servers.

The pytest fixtures that wrap these live in ``tests/fixtures/registry.py``; its docstring is the
index. Everything here binds 127.0.0.1 only and never resolves a non-local name.
"""

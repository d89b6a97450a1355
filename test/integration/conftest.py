"""Integration tests talk to the session's local stack (fixtures in test/conftest.py)."""

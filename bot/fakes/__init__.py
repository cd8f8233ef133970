"""Test doubles and the demo's fake servers: not part of the runtime.

Imported only by tests, the demo (`bot/demo.py`) and `scripts/`; no product module imports
them (tests/test_architecture.py).
"""

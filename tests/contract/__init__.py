"""One suite, two backends: see world.py and DESIGN.md (tests)."""

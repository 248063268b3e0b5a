"""Persistence: the tables (models.py), the engine (engine.py), the migrations (migrate.py)."""

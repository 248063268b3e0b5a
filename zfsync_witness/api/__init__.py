"""The HTTP API (FastAPI) under /api/v1: app.py builds it, routes/ holds the endpoints."""

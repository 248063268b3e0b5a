"""One module per part of the seed's API (health, systems, snapshots, sync groups, sync,
conflicts); each a router that app.py mounts under /api/v1."""

"""Alembic, driven from code: `zfsync-witness migrate` and the readiness check use this;
the migration scripts are in zfsync_witness/migrations (no alembic.ini to install)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    # passed as an attribute, not an option: a URL's '%' would be read as interpolation
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision`. Runs its own event loop: call it from a thread
    (or before one runs), never from a coroutine."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head() -> str:
    found = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    if found is None:
        raise RuntimeError(f"no migration scripts in {SCRIPTS}")
    return found

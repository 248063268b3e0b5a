"""`python -m zfsyncctl`."""

from .main import cli

cli(prog_name="zfsyncctl")

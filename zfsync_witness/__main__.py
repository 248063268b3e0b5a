from zfsync_witness.cli import cli

cli()

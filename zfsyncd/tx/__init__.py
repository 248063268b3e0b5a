"""The transaction engine: state machine, steps with inverses, executor, recovery, locks."""

"""Retention: which snapshots a policy keeps, and why; pure, no ZFS and no engine.

- `RetentionPolicy` (policy.py): the policy, a pydantic model usable as a TOML table;
  `parse_policy(mapping)` and `parse_policy_text(line)` read one, raising `PolicyError` with
  one line that names every problem.
- `decide_retention(snapshots, policy, now)` (decide.py): each snapshot kept or destroyed,
  with the reason; never destroys a protected one (held, in use by a running transaction,
  the newest shared with a replication target, the newest of its dataset).
- grid.py (zrepl's grid) and periods.py (sanoid's counts) hold the two rule forms.
"""

from zfsyncd.retention.decide import Candidate, Decision, Verdict, decide_retention
from zfsyncd.retention.grid import GridError, GridInterval, format_grid, parse_grid
from zfsyncd.retention.policy import (
    OWN_PREFIX,
    PolicyError,
    RetentionPolicy,
    parse_policy,
    parse_policy_text,
)

__all__ = [
    "OWN_PREFIX",
    "Candidate",
    "Decision",
    "GridError",
    "GridInterval",
    "PolicyError",
    "RetentionPolicy",
    "Verdict",
    "decide_retention",
    "format_grid",
    "parse_grid",
    "parse_policy",
    "parse_policy_text",
]

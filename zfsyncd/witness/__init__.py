"""zfsyncd as a client of the multi-host witness (issue 14, seed 001; the service is
zfsync_witness/).

- wire.py          the witness's API as the client reads it (pydantic), and its errors
- http.py          the HTTP client (httpx): one method per endpoint the daemon uses
- inventory.py     this host's snapshots as one report: one `zfs list`, however many
- instructions.py  an instruction as a witness-receive request, or the reason it cannot be
                   one (pure)
- outbox.py        what waits for a witness that is down (the inventory, outcomes: these
                   in the daemon's database)
- backoff.py       instructions that failed, held back each on its own backoff
- client.py        the loop: report, heartbeat, fetch and run instructions, report outcomes;
                   and the status and conflicts the bus shows

The client speaks to the engine (zfsyncd/tx/) and ZFS (through the engine's hosts) and
knows nothing of D-Bus: zfsyncd/bus/ adapts it. A witness that is down delays nothing
local: the loop backs off and what it could not send waits in the outbox.
"""

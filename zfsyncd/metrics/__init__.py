"""Metrics for monitoring: a Prometheus endpoint and a node-exporter textfile, both off
unless configured.

Modules: `figures` (what is read, from ZFS and the store, and the cache that bounds how
often), `families` (the metric families of one reading, in the text format), `jobs` (the
hook for the scheduler's job metrics), `http` (the endpoint), `service` (the daemon's
part: the endpoint and the textfile writer over one cache). Read-only, like zfsyncd/bus/:
it reads tx/, ops/ and store/, and changes nothing.
"""

"""zfsyncd against the replication tools an administrator would pick instead (issue 11):
syncoid, zfs-autobackup and bzfs, and the bare `zfs send | zfs receive`, on identical
pools in the OpenZFS lab, every zfs command counted by one wrapper. See bench/README.md.

    bench/peers/setup.sh                 # once: the peers and matplotlib, in a venv of their own
    bench/peers/run.sh                   # every case and every tool; the JSON, table and chart
    bench/peers/run.sh --case 2 --runs 3 # one case

Modules: tools (each tool's command lines), stats (median, spread, ratios, the targets),
table (the text table), chart (the PNG), lab (the cases, run in the guest), kept (each
tool's setup of cases 2-4, kept between runs), alone (case 5: zfsyncd's own benches),
__main__ (the command line of all of them).
"""

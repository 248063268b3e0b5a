#!/usr/bin/env bash
# tests/setup-host.sh — what every command of this project needs on a fresh Debian 12
# machine (root): the apt packages and the project's .venv with
# `pip install -e '.[dev,witness]'`.
# tests/run-all.sh and demo/run.sh both start with it. Idempotent; quick when done before.
#
# Env: PYTHON=<interpreter for the venv> (default: python3 on PATH, else /usr/bin/python3).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
VPY=$REPO/.venv/bin/python
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
die() { echo "setup-host: $*" >&2; exit 1; }
header() { printf '\n======== [%s] %s\n' "$(date +%H:%M:%S)" "$1"; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, and the lab build installs packages)"

header "a. apt packages"
# Which python builds the venv: an explicit PYTHON, else python3 on PATH (here: pyenv 3.11),
# else Debian's own. Debian's needs python3-venv for ensurepip; pyenv's has it built in.
PYTHON=${PYTHON:-$(command -v python3 || true)}
# zstd: lab artifact packs; dbus + polkitd (dbus-daemon, polkitd, pkcheck, pkaction): the
# system tier; systemd: only for `systemd-analyze verify` of systemd/zfsyncd.service (nothing
# here runs systemd); openssh-server: the sshd that the lab guest starts on its own loopback
# for the real tier's ssh transport (the guest's root is this machine's /, so its programs
# come from here). setpriv and useradd come with util-linux and passwd, always present.
# postgresql: the witness's tests (tests/witness) run against a real PostgreSQL 15 as well as
# SQLite, in a throwaway cluster they make themselves (initdb in a temporary directory, a
# socket of its own, no TCP); Debian's own `main` cluster is not used (see below).
pkgs=(zstd dbus polkitd systemd openssh-server postgresql)
# the migration (issue 12): rsync copies each source snapshot; btrfs-progs makes the lab
# test's BTRFS source (the guest's root is this machine's /); acl and attr give its
# setfacl/getfattr, which make and compare ACLs and xattrs
pkgs+=(rsync btrfs-progs acl attr)
if [ -z "$PYTHON" ]; then
  PYTHON=/usr/bin/python3
  pkgs+=(python3 python3-venv)
elif ! "$PYTHON" -c 'import ensurepip, venv' 2> /dev/null; then
  pkgs+=(python3-venv)
fi
# This machine itself must not start serving ssh because the tests need the program: when
# openssh-server is not installed yet, Debian's own switch (/etc/ssh/sshd_not_to_be_run,
# honoured by ssh.service and /etc/init.d/ssh) keeps the service from starting, now and at
# boot. An sshd that was already installed is the administrator's: left as it is. The lab
# guest runs /usr/sbin/sshd directly with a configuration of its own (tests/lab/guest-sshd.sh).
if ! dpkg-query -W -f='${Status}' openssh-server 2> /dev/null | grep -q 'install ok installed'; then
  mkdir -p /etc/ssh
  echo "tests/setup-host.sh: sshd is installed for the lab guest only" > /etc/ssh/sshd_not_to_be_run
fi
# The postgresql package creates a `main` cluster and starts it; a CI machine must not be left
# serving a database because the tests need the programs. When this script installs the
# package, a policy-rc.d (Debian's switch for maintainer scripts) keeps the service from
# starting during the install, and each cluster made is set to start only by hand
# (start.conf `manual`, honoured at boot). A postgresql installed before is left as it is.
pg_new=
if ! dpkg-query -W -f='${Status}' postgresql 2> /dev/null | grep -q 'install ok installed' &&
  [ ! -e /usr/sbin/policy-rc.d ]; then
  pg_new=1
  printf '#!/bin/sh\n# tests/setup-host.sh: no service starts during this install\nexit 101\n' \
    > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" > /dev/null
if [ -n "$pg_new" ]; then
  rm -f /usr/sbin/policy-rc.d
  for conf in /etc/postgresql/*/*/start.conf; do
    if [ -e "$conf" ]; then echo manual > "$conf"; fi
  done
fi
echo "installed/present: ${pkgs[*]}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' ||
  die "$PYTHON is older than 3.11 (pyproject requires-python); set PYTHON=..."
echo "python for the venv: $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"

# ---------------------------------------------------------------------------------------
header "b. virtualenv .venv + pip install -e '.[dev,witness]'"
# Which installation a python belongs to, and its version (a pyenv shim answers for the
# interpreter it runs; a venv's python for the installation it was made from).
ident='import os, sys; print(os.path.realpath(sys.base_prefix), sys.version.split()[0])'
want=$("$PYTHON" -c "$ident")
have=$("$VPY" -c "$ident" 2> /dev/null || true)
if [ "$have" = "$want" ]; then
  "$PYTHON" -m venv .venv              # refresh in place; keeps the installed packages
else
  # missing, broken (its interpreter moved) or made from another python: start clean, as a
  # refresh in place would keep the old interpreter links under the new pyvenv.cfg
  echo "(re)creating .venv (found: '${have:-none}', want: '$want')"
  "$PYTHON" -m venv --clear .venv
fi
# witness: the witness service's server and database packages (its tests are in the host tier)
"$VPY" -m pip install -q -e '.[dev,witness]'
"$VPY" -m pip check

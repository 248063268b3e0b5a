#!/bin/bash
# sshd on the lab guest's loopback, for the real tier's ssh transport (issue 10: zfsyncd
# replicates to 127.0.0.1 through a real sshd). guest-job.sh runs it before pytest:
#
#   tests/lab/guest-sshd.sh DIR [PORT]
#
# Everything is made for this run, in the guest, and vanishes at power-off: a host key, a
# client key, and an account `zfsync` that only that key can log in to. sshd listens on
# 127.0.0.1:PORT (default 2222) with a configuration file of its own (no password or
# keyboard-interactive authentication, no PAM, no forwarding), never the machine's
# /etc/ssh/sshd_config. DIR receives what a client needs, read by tests/real/ssh.py:
#   client_key   the private key     known_hosts  the host key, for StrictHostKeyChecking
#   port, user   where to connect    sshd.log     sshd's own log (read it when a login fails)
# The program comes from the host's openssh-server (tests/setup-host.sh installs it): the
# guest's root is the host's /. Exit status 0 only once a login through the key works.
set -eEuo pipefail
trap 'echo "guest-sshd: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
die() { echo "guest-sshd: $*" >&2; exit 1; }

: "${SHARE_DIR:?SHARE_DIR is not set: this runs in the lab guest only (it adds an account)}"
DIR=${1:?usage: guest-sshd.sh DIR [PORT]}
PORT=${2:-2222}
USER_NAME=zfsync
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || die "no $SSHD: openssh-server is not installed on the host (tests/setup-host.sh)"

install -d -m 0700 "$DIR"
ssh-keygen -q -t ed25519 -N '' -C zfsyncd-lab-host -f "$DIR/host_key"
ssh-keygen -q -t ed25519 -N '' -C zfsyncd-lab-client -f "$DIR/client_key"
# a per-run key, and it may only run commands: no tty, no forwarding of any kind
printf 'restrict %s\n' "$(cat "$DIR/client_key.pub")" > "$DIR/authorized_keys"
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$DIR/host_key.pub")" \
  > "$DIR/known_hosts"

# The account the daemon logs in to. uid 0: `zfs receive` needs root on Linux. Its shell is
# /bin/sh, not root's bash: sshd hands each command to the account's shell, and bash would
# read root's ~/.bashrc first (on these machines it starts pyenv: seconds per command under
# TCG). Its home is DIR, so sshd's StrictModes checks DIR (0700) and nothing above it. The
# password field '*' can match no password, yet is not the '!' of a locked account, which
# sshd without PAM refuses even for a key. /etc/passwd here is the guest's overlay copy.
if ! getent passwd "$USER_NAME" > /dev/null; then
  # -K UID_MIN=0: uid 0 is meant, not a slip below login.defs' range (no warning)
  useradd -K UID_MIN=0 --non-unique --uid 0 --gid 0 --no-create-home --home-dir "$DIR" \
    --shell /bin/sh --password '*' "$USER_NAME"
fi

cat > "$DIR/sshd_config" <<EOF
# tests/lab/guest-sshd.sh: a throw-away sshd for the lab guest's loopback
ListenAddress 127.0.0.1
Port $PORT
HostKey $DIR/host_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
AllowUsers $USER_NAME
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes yes
DisableForwarding yes
PermitTTY no
PrintMotd no
# the test suite opens many short connections in a row
MaxStartups 50
LogLevel VERBOSE
EOF
# sshd's privilege-separation directory; /run is an empty tmpfs in the guest
install -d -m 0755 /run/sshd
"$SSHD" -t -f "$DIR/sshd_config"
"$SSHD" -f "$DIR/sshd_config" -E "$DIR/sshd.log"
echo "$PORT" > "$DIR/port"
echo "$USER_NAME" > "$DIR/user"

# Ready when a login through the key runs a command (sshd forks into the background before
# it listens; under TCG that takes a moment).
for _ in $(seq 60); do
  if ssh -F /dev/null -i "$DIR/client_key" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$DIR/known_hosts" -o StrictHostKeyChecking=yes -p "$PORT" \
    -- "$USER_NAME@127.0.0.1" true 2> "$DIR/first-login.err"; then
    exit 0
  fi
  sleep 1
done
cat "$DIR/first-login.err" "$DIR/sshd.log" >&2 || true
die "no login through sshd on 127.0.0.1:$PORT after 60 tries"

"""The system tier's harness: a private system bus, a real polkitd on it, and processes run
under that bus as root or as another user.

Nothing here needs systemd: dbus-daemon gets a generated config (a system bus that listens
in a temp dir, the stock default policy, the distribution's system.d for polkit's own
policy, and the repository's dbus/org.zfsync.Daemon1.conf, so the real file is what is
tested), and polkitd is started by hand with DBUS_SYSTEM_BUS_ADDRESS pointing at that bus.

polkitd has no option for where it reads actions and rules, and those directories are the
machine's: two test runs side by side (helpers, tests/stress-host.sh beside a developer's
run) would see each other's rules files. So polkitd runs in a mount namespace of its own
(`unshare --mount`) in which /usr/share/polkit-1/actions and /etc/polkit-1/rules.d are this
bus's copies of them: the machine's actions plus the repository's polkit/org.zfsync.policy,
the machine's rules plus a test's rules file for as long as the test needs it
(`polkit_rules`). polkitd watches its view of the directory, which is the same inode the
test writes into, so it reloads as it would on a real machine.

Every process started through `Processes` is stopped at teardown: SIGTERM to the main
process only, then SIGKILL to its whole process group (what systemd's KillMode=mixed does
to zfsyncd.service), so nothing is left running after a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

REPO = Path(__file__).resolve().parents[2]
BUS_POLICY = REPO / "dbus" / "org.zfsync.Daemon1.conf"
ACTIVATION_FILE = REPO / "dbus" / "org.zfsync.Daemon1.service"
POLKIT_POLICY = REPO / "polkit" / "org.zfsync.policy"
ADMIN_RULES = REPO / "polkit" / "50-zfsync-admin.rules"
UNIT_FILE = REPO / "systemd" / "zfsyncd.service"

DBUS_DAEMON = "dbus-daemon"
POLKITD = Path("/usr/lib/polkit-1/polkitd")
POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_ACTIONS_DIR = Path("/usr/share/polkit-1/actions")
POLKIT_RULES_DIR = Path("/etc/polkit-1/rules.d")
# The distribution's bus policies (polkit's among them); our own conf is included from the
# repository instead, so an installed copy of it there would hide what the repo says.
SYSTEM_D = Path("/usr/share/dbus-1/system.d")

# polkitd prints this after every (re)load of its rules; counting it tells that a rules
# file written into its rules directory has been seen (polkitd watches the directory).
POLKIT_RULES_LOADED = "Finished loading, compiling and executing"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class User:
    """A local account, as a process run as it sees itself."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def lookup(cls, name: str) -> User:
        pw = pwd.getpwnam(name)
        return cls(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir)


def as_user_argv(user: User, argv: Sequence[str]) -> list[str]:
    """argv that runs `argv` as `user`: setpriv switches ids and execs, so the pid that
    Popen returns is the command's own (polkit checks that process, and signals reach it).
    --init-groups gives the user's supplementary groups as a login would (polkit rules
    check group membership; for `nobody` it is the same as --clear-groups). No
    --reset-env: the caller passes a clean environment (user_env), which keeps the bus
    address. No shell: the arguments reach the command exactly as given."""
    return [
        "setpriv",
        f"--reuid={user.uid}",
        f"--regid={user.gid}",
        "--init-groups",
        "--",
        *argv,
    ]


def user_env(
    user: User, bus_address: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A clean environment for `user`: none of root's variables (HOME=/root, tokens, venv
    state) leak into a process that is meant to be someone else."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": user.home,
        "USER": user.name,
        "LOGNAME": user.name,
        "LANG": "C.UTF-8",
        "DBUS_SYSTEM_BUS_ADDRESS": bus_address,
        # the repository is root's: a user's Python must not try to write bytecode into it
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env


def install_file(src: Path, dest: Path, mode: int = 0o644) -> bool:
    """Put a copy of `src` at `dest` unless an identical one is there; True if it wrote.
    Written under a name polkitd ignores (no .rules/.policy suffix) and renamed into place,
    so a watching polkitd never reads half a file."""
    data = src.read_bytes()
    with contextlib.suppress(FileNotFoundError):
        if dest.read_bytes() == data:
            return False
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


def ensure_group(name: str) -> None:
    """Create a system group unless it exists (idempotent; tolerates a concurrent creator)."""
    try:
        grp.getgrnam(name)
    except KeyError:
        done = subprocess.run(["groupadd", "--system", name], capture_output=True, text=True)
        if done.returncode != 0:
            grp.getgrnam(name)  # created meanwhile by someone else, or raise KeyError


def ensure_user(name: str, groups: Sequence[str] = ()) -> User:
    """A system user without home or login shell, member of `groups` (idempotent)."""
    for g in groups:
        ensure_group(g)
    try:
        pwd.getpwnam(name)
    except KeyError:
        argv = [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
        ]
        if groups:
            argv += ["--groups", ",".join(groups)]
        done = subprocess.run([*argv, name], capture_output=True, text=True)
        if done.returncode != 0:
            pwd.getpwnam(name)
    for g in groups:
        if name not in grp.getgrnam(g).gr_mem:
            subprocess.run(["usermod", "--append", "--groups", g, name], check=True)
    return User.lookup(name)


def process_subject(pid: int) -> str:
    """pkcheck's --process argument "pid,start-time,uid": with the start time polkit checks
    exactly this process, not whatever reuses the pid."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # fields after "(comm)"; starttime is field 22 of the whole line
    start_time = stat.rsplit(")", 1)[1].split()[19]
    uid = os.stat(f"/proc/{pid}").st_uid
    return f"{pid},{start_time},{uid}"


async def disconnect(bus: MessageBus) -> None:
    """Close a dbus-fast connection and wait until it is closed: an open socket left to the
    garbage collector is a ResourceWarning, an error under filterwarnings=error."""
    bus.disconnect()
    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # untyped upstream


def wait_until_running_as(pid: int, user: User, exe: str, timeout: float = START_TIMEOUT) -> None:
    """Until process `pid` runs `exe` as `user`. Popen returns as soon as setpriv is forked,
    still root's; asking polkit about the pid before setpriv has switched and exec'd would
    ask about a root process (seen: every action authorized)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(FileNotFoundError):
            uid = os.stat(f"/proc/{pid}").st_uid
            if uid == user.uid and os.path.basename(os.readlink(f"/proc/{pid}/exe")) == exe:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} does not run {exe} as {user.name}")
        time.sleep(0.01)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class Processes:
    """Processes started for the tests, each with its output in a log file in `log_dir`."""

    log_dir: Path
    running: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        user: User | None = None,
        name: str | None = None,
        stdout_pipe: bool = False,
        cwd: Path = REPO,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` (as `user` if given) in a process group of its own; stderr, and
        stdout unless `stdout_pipe`, go to <log_dir>/<name>.log (see log_of)."""
        full = as_user_argv(user, argv) if user is not None else list(argv)
        log = self.log_dir / f"{name or Path(argv[0]).name}-{len(self.running)}.log"
        with open(log, "wb") as out:
            os.chmod(log, 0o644)
            proc = subprocess.Popen(
                full,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else out,
                stderr=out,
                start_new_session=True,  # its own group: teardown reaches its children
            )
        self.running.append((proc, log))
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> Path:
        for p, log in self.running:
            if p is proc:
                return log
        raise KeyError(f"process {proc.pid} was not started here")

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM to the process alone (it may need its children to finish a step), then,
        after `timeout` or once it exits, SIGKILL to whatever is left of its group."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
        # SIGKILL is delivered asynchronously: return once the group is really gone
        deadline = time.monotonic() + timeout
        while group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.stdout is not None:
            proc.stdout.close()
        return rc

    def stop_all(self) -> None:
        # newest first: a service started on the bus goes before the bus itself
        for proc, _ in reversed(self.running):
            self.stop(proc)
        self.running.clear()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # after "(comm)": state, ppid, pgrp
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def read_line(stream: IO[bytes], timeout: float) -> str:
    """One line from a child's stdout pipe, or TimeoutError."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no output within {timeout}s")
    return stream.readline().decode().strip()


def bus_config(socket: Path, service_dir: Path | None = None, extra_policy: str = "") -> str:
    """The private bus's config: /usr/share/dbus-1/system.conf of dbus 1.14 less what only
    the machine's own bus does (<user> switch, <fork>, pidfile, syslog, the launch helper and
    standard service dirs: nothing is activated here, services are started by the tests, and
    a call to a name nobody owns fails at once with ServiceUnknown, as on a machine where the
    daemon is stopped), plus our policy file from the repository. `service_dir` adds a
    directory of activation files, only to see that dbus-daemon reads them; `extra_policy`
    adds <policy> elements (bench/bus.py lets root call its baseline service)."""
    services = f"<servicedir>{service_dir}</servicedir>" if service_dir is not None else ""
    return f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>{SYSTEM_D}</includedir>
  <include>{BUS_POLICY}</include>
  {services}
  {extra_policy}
</busconfig>
"""


@dataclass
class SystemBus:
    """A private system bus with a real polkitd on it. Its `address` goes to every process
    as DBUS_SYSTEM_BUS_ADDRESS (env()); `spawn`/`run` start commands under it, as root or
    as another User; `start_service` also waits for the bus name the process takes."""

    address: str
    directory: Path
    processes: Processes
    polkitd: subprocess.Popen[bytes] | None = None

    def env(
        self, user: User | None = None, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Root: this process's environment plus the bus; another user: user_env()."""
        if user is not None:
            return user_env(user, self.address, extra)
        env = dict(os.environ)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        env.update(extra or {})
        return env

    def spawn(
        self,
        argv: Sequence[str],
        *,
        user: User | None = None,
        extra_env: Mapping[str, str] | None = None,
        name: str | None = None,
        stdout_pipe: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process under the bus; stopped at session end (or stop())."""
        return self.processes.spawn(
            argv, env=self.env(user, extra_env), user=user, name=name, stdout_pipe=stdout_pipe
        )

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
        return self.processes.stop(proc, timeout)

    def run(
        self,
        argv: Sequence[str],
        *,
        user: User | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to its end under the bus; output captured as text, no check (the
        test decides what exit code it expects). It blocks: a service that must answer it
        has to be another process, not a coroutine on the test's event loop."""
        full = as_user_argv(user, argv) if user is not None else list(argv)
        return subprocess.run(
            full,
            env=self.env(user, extra_env),
            cwd=REPO,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pkcheck(self, action: str, pid: int) -> subprocess.CompletedProcess[str]:
        """Ask polkitd (as root, who may ask about any process) whether process `pid` is
        authorized for `action`, without user interaction: exit 0 yes, 1 no, 2 only with
        authentication."""
        return self.run(["pkcheck", "--action-id", action, "--process", process_subject(pid)])

    async def wait_for_name(
        self,
        name: str,
        proc: subprocess.Popen[bytes] | None = None,
        timeout: float = START_TIMEOUT,
    ) -> None:
        """Until `name` has an owner on the bus; fails early, with its log, if `proc`
        (the process meant to take the name) exits first."""
        bus = await MessageBus(bus_address=self.address).connect()
        try:
            deadline = time.monotonic() + timeout
            while True:
                reply = await bus.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="NameHasOwner",
                        signature="s",
                        body=[name],
                    )
                )
                assert reply is not None
                assert reply.message_type == MessageType.METHOD_RETURN, reply.body
                if reply.body[0]:
                    return
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(
                        f"{proc.args!r} exited ({proc.returncode}) before owning {name}:\n"
                        f"{tail(self.processes.log_of(proc))}"
                    )
                if time.monotonic() > deadline:
                    log = tail(self.processes.log_of(proc)) if proc is not None else ""
                    raise TimeoutError(f"nobody owns {name} after {timeout}s\n{log}")
                await asyncio.sleep(0.05)
        finally:
            await disconnect(bus)

    async def start_service(
        self,
        argv: Sequence[str],
        bus_name: str,
        *,
        user: User | None = None,
        extra_env: Mapping[str, str] | None = None,
        name: str | None = None,
        timeout: float = START_TIMEOUT,
    ) -> subprocess.Popen[bytes]:
        """spawn() + wait_for_name(): e.g. the daemon, ready once it owns its bus name."""
        proc = self.spawn(argv, user=user, extra_env=extra_env, name=name)
        try:
            await self.wait_for_name(bus_name, proc, timeout)
        except BaseException:
            self.stop(proc)
            raise
        return proc

    def polkit_log(self) -> str:
        assert self.polkitd is not None
        return self.processes.log_of(self.polkitd).read_text(errors="replace")

    def polkit_rule_loads(self) -> int:
        """How often polkitd has (re)loaded its rules so far."""
        return self.polkit_log().count(POLKIT_RULES_LOADED)

    async def wait_polkit_reload(self, loads_before: int, timeout: float = START_TIMEOUT) -> None:
        """Until polkitd has reloaded its rules since polkit_rule_loads() said loads_before
        (it watches its rules directories and reloads on a change)."""
        assert self.polkitd is not None
        deadline = time.monotonic() + timeout
        while self.polkit_rule_loads() <= loads_before:
            if time.monotonic() > deadline:
                log = tail(self.processes.log_of(self.polkitd))
                raise TimeoutError(f"polkitd did not reload its rules in {timeout}s:\n{log}")
            await asyncio.sleep(0.05)


def check_tools() -> None:
    """One clear message instead of a FileNotFoundError from deep inside a fixture."""
    missing = [
        t
        for t in (DBUS_DAEMON, "pkcheck", "pkaction", "setpriv", "useradd", "unshare")
        if shutil.which(t) is None
    ]
    missing += [str(POLKITD)] if not POLKITD.exists() else []
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: run tests/setup-host.sh")


def start_bus(
    directory: Path,
    processes: Processes,
    service_dir: Path | None = None,
    extra_policy: str = "",
) -> SystemBus:
    """dbus-daemon on a socket in `directory` (which must be reachable for other users)."""
    check_tools()
    stale = SYSTEM_D / BUS_POLICY.name
    if stale.exists():
        raise RuntimeError(
            f"{stale} is installed: the private bus would merge it with the repository's "
            f"{BUS_POLICY}, and the tests would no longer test the repository's file"
        )
    config = directory / "bus.conf"
    config.write_text(bus_config(directory / "system_bus_socket", service_dir, extra_policy))
    proc = processes.spawn(
        [DBUS_DAEMON, f"--config-file={config}", "--nofork", "--print-address=1"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        name="dbus-daemon",
        stdout_pipe=True,  # the address, printed once the bus listens: the ready signal
    )
    assert proc.stdout is not None
    try:
        address = read_line(proc.stdout, START_TIMEOUT)
    except TimeoutError:
        address = ""
    if not address:
        processes.stop(proc)
        raise RuntimeError(f"dbus-daemon did not start:\n{tail(processes.log_of(proc))}")
    return SystemBus(address=address, directory=directory, processes=processes)


# run in polkitd's own mount namespace: its two directories become this bus's copies
_POLKITD_IN_ITS_DIRS = 'mount --bind "$1" "$2" && mount --bind "$3" "$4" && exec "$5"'


def polkit_dirs(bus: SystemBus) -> tuple[Path, Path]:
    """This bus's copies of polkit's actions and rules directories (made on first use):
    the machine's files, the repository's actions, none of a test's rules."""
    actions, rules = bus.directory / "polkit-actions", bus.directory / "polkit-rules.d"
    if not actions.exists():
        shutil.copytree(POLKIT_ACTIONS_DIR, actions)
        shutil.copy2(POLKIT_POLICY, actions / POLKIT_POLICY.name)
        shutil.copytree(POLKIT_RULES_DIR, rules, ignore=shutil.ignore_patterns(ADMIN_RULES.name))
        owner = pwd.getpwnam("polkitd")  # as the package leaves the directory: 0700 polkitd
        os.chown(rules, owner.pw_uid, 0)
        rules.chmod(0o700)
    return actions, rules


async def start_polkitd(bus: SystemBus) -> subprocess.Popen[bytes]:
    """A real polkitd on the private bus, reading this bus's copies of its directories.
    It starts as root and drops to the `polkitd` user itself; it logs (rule loads among
    other things) to its log file because it runs without --no-debug."""
    actions, rules = polkit_dirs(bus)
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c"]
    argv += [_POLKITD_IN_ITS_DIRS, "polkitd-namespace"]
    argv += [str(actions), str(POLKIT_ACTIONS_DIR), str(rules), str(POLKIT_RULES_DIR)]
    proc = bus.processes.spawn(
        [*argv, str(POLKITD)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DBUS_SYSTEM_BUS_ADDRESS": bus.address,
        },
        name="polkitd",
    )
    bus.polkitd = proc
    await bus.wait_for_name(POLKIT_NAME, proc)
    return proc


@contextlib.asynccontextmanager
async def polkit_rules(bus: SystemBus, src: Path) -> AsyncIterator[Path]:
    """`src` installed in this bus's rules directory (polkitd's /etc/polkit-1/rules.d) and
    loaded by polkitd for the block; removed and unloaded after it."""
    dest = polkit_dirs(bus)[1] / src.name
    loads = bus.polkit_rule_loads()
    install_file(src, dest)
    try:
        await bus.wait_polkit_reload(loads)
        yield dest
    finally:
        loads = bus.polkit_rule_loads()
        dest.unlink(missing_ok=True)
        await bus.wait_polkit_reload(loads)


def make_bus_dir() -> Path:
    """A fresh directory for the bus socket, config and logs, 0755 so that other users can
    reach the socket. Not pytest's tmp_path: /tmp/pytest-of-root is 0700, closed to them."""
    directory = Path(tempfile.mkdtemp(prefix="zfsync-sysbus-"))
    directory.chmod(0o755)
    return directory


def remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)

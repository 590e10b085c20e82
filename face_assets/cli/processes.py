"""Stopping on time: `face-assets dev` and `face-assets serve` end within STOP_SECONDS of SIGTERM or Ctrl-C.

Docker and Kubernetes send SIGTERM and, 10 s later, SIGKILL, which would leave whatever the command started behind
(the webserver, the daemon, code servers, run workers). So:

- `dev` starts each child (`dagster dev`, the review app) in a process group of its own (`spawn_group`); on
  SIGTERM or Ctrl-C it sends SIGINT to every process of those groups at once, as Ctrl-C in a terminal does (each
  Dagster process stops itself; a run worker marks its run failed), waits up to GRACE_SECONDS for the groups to
  empty, then SIGKILLs what is left (`stop_groups`) and returns only once nothing of them runs. A run whose worker
  was killed before it could say so (its database was down, say) is marked failed by Dagster's run monitoring
  (face_assets.db.run_launcher), at the latest when the daemon starts again.
- `serve` (uvicorn) gets GRACE_SECONDS to finish the requests in flight; should anything still hold the process
  (a model call, a connection that does not time out), it exits regardless at STOP_SECONDS (`exit_by`).

Waiting is on the processes themselves, never on a server answering: with the database stopped underneath, nothing
waits for a connection timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence

STOP_SECONDS = 8.0  # within Docker's and Kubernetes' 10 s between SIGTERM and SIGKILL
GRACE_SECONDS = 5.0  # of which the processes have this long to stop by themselves (then SIGKILL)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _child_setup() -> None:
    # In the child, before exec: a process group of its own (so it and all it starts can be signalled together),
    # Ctrl-C's default action (a shell starting us in the background ignores SIGINT), and the stop signals that the
    # parent blocks while it spawns unblocked again.
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def spawn_group(argv: Sequence[str], **kwargs) -> subprocess.Popen:
    """Start `argv` as the leader of a new process group (its pid is the group id). A stop signal arriving
    meanwhile waits until the child is recorded, so no child starts unknown to the stopping code."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return subprocess.Popen(list(argv), preexec_fn=_child_setup, **kwargs)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def group_members(pgid: int) -> list[int]:
    """The processes of group `pgid` that still run (zombies, which only wait to be reaped, are not counted)."""
    import psutil

    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE or os.getpgid(process.pid) != pgid:
                continue
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
        members.append(process.pid)
    return members


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_gone(child: subprocess.Popen) -> bool:
    if child.poll() is None:  # reaps it once it has exited
        return False
    try:
        os.killpg(child.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return not group_members(child.pid)  # only zombies left, waiting for init to reap them: gone too


def _wait_groups(children: Iterable[subprocess.Popen], deadline: float) -> bool:
    """Until every child has exited and its group is empty, or `deadline`; whether they all did."""
    children = list(children)
    while not all(_group_gone(child) for child in children):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_groups(children: Iterable[subprocess.Popen], grace: float = GRACE_SECONDS, kill_wait: float = 1.5) -> str:
    """Stop the children started by `spawn_group` and everything in their groups; one line saying how it went
    (stopped by themselves, or what was left after `grace` seconds and killed)."""
    children = [c for c in children if c is not None]
    start = time.monotonic()
    for child in children:
        _signal_group(child.pid, signal.SIGINT)
    if _wait_groups(children, start + grace):
        return f"stopped in {time.monotonic() - start:.1f} s"
    left = [_describe(pid) for child in children for pid in group_members(child.pid)]
    for child in children:
        _signal_group(child.pid, signal.SIGKILL)
    gone = _wait_groups(children, time.monotonic() + kill_wait)
    return f"killed {len(left)} process(es) still running after {grace:.0f} s: {', '.join(left)}; " + (
        f"all gone {time.monotonic() - start:.1f} s after the stop began" if gone else "some did not go"
    )


def _describe(pid: int) -> str:
    import psutil

    try:
        command = psutil.Process(pid).cmdline()
    except psutil.Error:
        return str(pid)
    words = [w for w in command[:6] if not w.startswith("-") or w == "-m"]
    return f"{pid} ({' '.join(os.path.basename(w) for w in words[:4])})"


def ignore_stop_signals() -> None:
    """While stopping: a second Ctrl-C or SIGTERM must not interrupt the stop half way (it is bounded anyway)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def exit_now(status: int) -> None:
    """Exit at once, once everything is stopped: the interpreter's own teardown (modules, thread pools) can take
    seconds on a loaded machine, and there is nothing left for it to do."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


_exit_timer: list[threading.Timer] = []


def exit_by(seconds: float = STOP_SECONDS, status: int = 1) -> None:
    """Make sure this process has exited `seconds` from now (a daemon timer calls os._exit; idempotent)."""
    if _exit_timer:
        return

    def hard_exit() -> None:
        print(f"face-assets: still stopping after {seconds:.0f} s: exiting now", file=sys.stderr, flush=True)
        os._exit(status)

    timer = threading.Timer(seconds, hard_exit)
    timer.daemon = True
    timer.start()
    _exit_timer.append(timer)


def serve_uvicorn(app: str, **config) -> None:
    """`uvicorn.run(app, **config)` that stops within STOP_SECONDS of SIGTERM or Ctrl-C (see the module docstring)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            exit_by(STOP_SECONDS)
            super().handle_exit(sig, frame)

    config.setdefault("timeout_graceful_shutdown", int(GRACE_SECONDS))
    try:
        Server(uvicorn.Config(app, **config)).run()
    except KeyboardInterrupt:
        exit_now(130)  # uvicorn re-raises Ctrl-C once it has stopped, for the caller: nothing more to do

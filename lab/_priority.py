"""Run background work at a lower CPU priority that holds across terminal sessions.

On Linux with autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled`` = 1, the
default of most desktop distributions) the kernel first shares the CPU equally between
autogroups, one per session, and applies ``nice`` only within a group: an import started
from one terminal takes a full core from a dashboard started from another, whatever its
``nice``. So the work runs in a child that starts a session of its own (its own autogroup)
and lowers that group's priority too; see ``man 7 sched``, "The autogroup feature".
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def run_niced(niceness: int, work: Callable[[], int]) -> int:
    """Run ``work`` with its CPU priority lowered by ``niceness``; return its exit status.

    Where the kernel has autogroups, ``work`` runs in a forked child in a new session whose
    autogroup gets ``niceness`` as well as the child itself. This process stays in the
    terminal's foreground, forwards SIGINT and SIGTERM to the child (so Ctrl-C unwinds the
    work, rolling its transaction back) and returns the child's status; the child gets
    SIGTERM if this process dies, even by SIGKILL. Elsewhere, or with ``niceness`` 0, only
    ``os.nice`` applies and ``work`` runs here.

    Parameters
    ----------
    niceness : int
        How much to lower the priority by (0 to 19).
    work : callable
        Does the work and returns an exit status; it runs in one process only.

    Returns
    -------
    int
        ``work``'s status; 128 + N if the child ended on signal N; 1 on an uncaught error.
    """
    if not niceness or not AUTOGROUP.exists():
        if niceness:
            os.nice(niceness)
        return work()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        status = 1
        try:  # whatever happens, the child never returns into its caller's code
            status = _child(parent, niceness, work)
        finally:
            os._exit(status)

    def forward(signum: int, frame: object) -> None:
        os.kill(child, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _, status = os.waitpid(child, 0)  # retried after each forwarded signal (PEP 475)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _child(parent: int, niceness: int, work: Callable[[], int]) -> int:
    """The forked child's side of :func:`run_niced`: detach, lower, work, flush."""
    try:
        os.setsid()
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            return 128 + signal.SIGTERM
        # the new session's group; raising its nice value needs no privilege, and where
        # the write is refused all the same, the import runs with os.nice alone as before
        with contextlib.suppress(OSError):
            AUTOGROUP.write_text(str(niceness))
        os.nice(niceness)
        return work()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()

"""A tiny process that removes a private local Ray once its driver is gone, however it went.

Ray's own clean-up after a driver dies is slow: after ``kill -9`` of ``nas search`` its
GCS, raylet, agents and idle workers lived on for about 70 s (the raylet and workers wait
out the GCS reconnection timeout). :func:`start` runs this file as a separate process
(``python watchdog.py ...``: it imports neither ``nas`` nor ``ray``, so it starts in tens
of milliseconds) with the read end of a pipe as its stdin; only the driver holds the write
end, and it is close-on-exec, so no Ray process inherits it. The read returns EOF when the
driver closes it (:func:`stop`) or dies (the kernel closes it, even on SIGKILL). The
watchdog then kills every process of ours (:func:`ours`), removes the temporary folder and
exits. It sits in its own session with stdout and stderr on /dev/null: Ctrl-C in the
terminal does not reach it, and it never holds the driver's output pipes open.

Ray retitles its workers and agents (``ray::IDLE``, ``ray::DashboardAgent``: setproctitle
rewrites the command line), so a process is "ours" (:func:`ours`) when any of these holds:
its command line names our temporary folder (GCS, raylet, monitor, log monitor); its
environment carries ``NAS_RAY_SESSION=<folder>`` (set by the driver while Ray starts,
inherited by the raylet and from it by the workers; the agents' environment reads empty in
/proc once they are retitled); it has a file open in the folder (every Ray process keeps
its log files there, the agents included). Other users' processes cannot be read and are
never touched.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

MARKER = "NAS_RAY_SESSION"  # environment variable naming the temporary folder of one local Ray
STOP = b"s"  # written by stop() before it closes the pipe; plain EOF means the driver died
# After a driver died, a Ray process caught in the middle of starting may still recreate its
# session folder just after the first clean-up (seen as empty 0755 folders left in /tmp):
# the watchdog looks again for this long.
SETTLE_S = 3.0


@dataclass
class Watchdog:
    process: subprocess.Popen
    pipe: int  # the write end; closing it (or dying) tells the watchdog to clean up


def start(folder: str, driver_pid: int, psutil_path: str) -> Watchdog:
    """Start the watchdog of ``folder`` for the driver ``driver_pid`` (normally this process)."""
    read, write = os.pipe()  # both close-on-exec (PEP 446): Ray's processes never inherit them
    env = {k: v for k, v in os.environ.items() if k != MARKER}  # it must not match itself
    try:
        process = subprocess.Popen([sys.executable, "-S", os.path.abspath(__file__), folder, str(driver_pid),
                                    psutil_path], stdin=read, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True, env=env, cwd="/")
    except BaseException:
        os.close(write)
        raise
    finally:
        os.close(read)
    return Watchdog(process, write)


def stop(watchdog: Watchdog, timeout: float = 30.0) -> None:
    """Tell the watchdog to clean up now and wait until it has; it exits when done."""
    try:
        os.write(watchdog.pipe, STOP)  # an orderly end: Ray was shut down, one pass will do
        os.close(watchdog.pipe)
    except OSError:
        pass  # closed already
    try:
        watchdog.process.wait(timeout)
    except subprocess.TimeoutExpired:
        watchdog.process.kill()
        watchdog.process.wait()


def ours(folder: str, exclude: set[int]):
    """The processes (psutil) of the local Ray that lives in ``folder``, but not ``exclude``."""
    import psutil

    needle = os.path.join(folder, "")  # "/tmp/nas-ray-x1/" cannot match "/tmp/nas-ray-x12/"
    for p in psutil.process_iter():
        if p.pid in exclude:
            continue
        try:
            if (any(needle in arg for arg in p.cmdline()) or p.environ().get(MARKER) == folder
                    or any(f.path.startswith(needle) for f in p.open_files())):
                yield p
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue  # gone, a zombie, or another user's: not ours to kill


def reap(folder: str, exclude: set[int], timeout: float = 10.0) -> list[int]:
    """SIGKILL the processes of the Ray in ``folder`` until none is left; returns the pids killed.

    Several passes: a raylet killed in the middle of a pass may have started a worker. Ray's
    processes keep no state worth a graceful stop here: the search's state is in its run
    folder, and Ray's is in ``folder``, which goes next.
    """
    import psutil

    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(ours(folder, exclude))
        if not found:
            break
        for p in found:
            try:
                p.send_signal(signal.SIGKILL)
                killed.append(p.pid)
            except psutil.Error:
                pass
        psutil.wait_procs(found, timeout=1.0)
    return killed


def remove(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _main(argv: list[str]) -> int:
    folder, driver_pid, psutil_path = argv[0], int(argv[1]), argv[2]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # clean up first, whatever the terminal does
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.path.insert(0, psutil_path)  # Ray's vendored psutil (ray/thirdparty_files), or wherever it is
    orderly = False
    while chunk := os.read(0, 1024):  # blocks; b"" is EOF: the driver closed the pipe or died
        orderly = orderly or STOP in chunk
    exclude = {os.getpid(), driver_pid}
    reap(folder, exclude)
    remove(folder)
    deadline = time.monotonic() + (0.0 if orderly else SETTLE_S)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if os.path.exists(folder) or any(True for _ in ours(folder, exclude)):
            reap(folder, exclude)
            remove(folder)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

"""flow's process launcher: a small long-lived child that starts step processes for flow.

Why: Node starts a child with fork(), which copies the whole page table of flow's big
process; on the VMs flow runs on that costs ~4 ms per step even from a bare node, while
posix_spawn (vfork) from this small process costs a fraction of it (bench/engine.ts).
So flow asks, and this process spawns; flow still owns every process group: it reads the
pid from here and signals the group itself (process-group.ts).

Protocol, flow -> launcher (stdin), one line each:
  {"id": N, "file": PATH, "argv": [...], "cwd": DIR, "env": {...}, "extra": 0|1}
      start argv (argv[0] is the name the program sees) with PATH in its own session and
      process group, stdin /dev/null, stdout and stderr (and fd 3 when extra) as pipes.
  -PGID   flow has ended that group; forget it.
Launcher -> flow (stdout), a header line, then the payload for D:
  S id pid            started             F id message        could not start
  D id fd length      output bytes        C id fd             that stream closed
  X id code signal left
                      the leader exited (code or signal is "-"); left is 1 when its group
                      still has processes, else 0, and an empty group is forgotten here

When stdin closes, flow is gone (it exited, crashed or was SIGKILLed): every group not
yet forgotten is SIGKILLed, as the reaper does for processes flow starts itself.

Stragglers outside the group: this process is a child subreaper (PR_SET_CHILD_SUBREAPER), so
a step's descendant that left its session and group (`setsid`, a double-forking daemon) is
reparented here, not to init, when its parent exits. Each step gets FLOW_LAUNCH=<pid>.<id> in
its environment; when a leader exits, every such orphan carrying an exited leader's mark is
SIGKILLed and waited for before X is sent (left is then 1), so no process the step started can
still write its outputs while flow commits them. The scan is repeated when flow forgets a
group it stopped (its members' own setsid children are reparented here as they die), and
every orphan is killed when flow goes.
"""

import ctypes
import errno
import fcntl
import json
import os
import selectors
import shutil
import signal
import sys

out = sys.stdout.buffer
sel = selectors.DefaultSelector()
groups = set()  # pgids flow has not forgotten
open_streams = {}  # read fd -> (id, stream number)


def frame(header, payload=b""):
    out.write(header.encode() + b"\n" + payload)


def high_fd(fd):
    """A copy at fd >= 10, so a DUP2 file action never maps an fd onto itself (which keeps CLOEXEC)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def spawn(req):
    ident = req["id"]
    env = req["env"]
    path = req["file"]
    if "/" not in path:
        found = shutil.which(path, path=env.get("PATH", os.defpath))
        path = os.path.join(req["cwd"], found) if found and not os.path.isabs(found) else found
        if not path:
            frame(f"F {ident} ENOENT: no such program on PATH: {req['file']}")
            return
    env = dict(env, FLOW_LAUNCH=f"{os.getpid()}.{ident}")
    streams = [1, 2] + ([3] if req.get("extra") else [])
    pipes = {n: tuple(high_fd(fd) for fd in os.pipe()) for n in streams}
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    actions += [(os.POSIX_SPAWN_DUP2, w, n) for n, (_, w) in pipes.items()]
    try:
        # posix_spawn has no cwd argument; this process is single-threaded, so chdir around it is safe.
        os.chdir(req["cwd"])
        pid = os.posix_spawn(path, req["argv"], env, file_actions=actions, setsid=True)
    except (OSError, ValueError) as e:
        for r, w in pipes.values():
            os.close(r)
            os.close(w)
        if isinstance(e, OSError):
            frame(f"F {ident} {errno.errorcode.get(e.errno, 'E?')}: {e.strerror}")
        else:
            frame(f"F {ident} {e}")
        return
    finally:
        os.chdir("/")
    groups.add(pid)
    frame(f"S {ident} {pid}")
    for n, (r, w) in pipes.items():
        os.close(w)
        os.set_blocking(r, False)
        open_streams[r] = (ident, n)
        sel.register(r, selectors.EVENT_READ, "stream")
    pids[pid] = ident


pids = {}  # leader pid -> id, until it exits
pending = b""


def read_control():
    global pending
    data = os.read(0, 1 << 16)
    if not data:
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        for pid in children():
            if pid not in pids:
                kill_orphan(pid)
        out.flush()
        os._exit(0)
    pending += data
    *lines, pending = pending.split(b"\n")
    for line in lines:
        if line.startswith(b"-"):
            groups.discard(int(line[1:]))
            stop_orphans()
        elif line:
            req = json.loads(line)
            try:
                spawn(req)
            except Exception as e:  # a value posix_spawn cannot take (a NUL byte): that step fails, not the launcher
                frame(f"F {req['id']} {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def read_stream(fd):
    ident, n = open_streams[fd]
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        return
    if data:
        frame(f"D {ident} {n} {len(data)}", data)
        return
    sel.unregister(fd)
    os.close(fd)
    del open_streams[fd]
    frame(f"C {ident} {n}")


def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ident = pids.pop(pid, None)
        if ident is None:
            continue
        if os.WIFSIGNALED(status):
            ended = f"- {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            ended = f"{os.WEXITSTATUS(status)} -"
        # Most steps leave nothing behind: then flow has no group to stop, and nothing to tell us.
        left = group_alive(pid)
        if not left:
            groups.discard(pid)
        ended_marks.add(mark(ident))
        if mark(ident) in stop_orphans():
            left = True
        frame(f"X {ident} {ended} {int(left)}")


ended_marks = set()  # FLOW_LAUNCH values of leaders that exited


def mark(ident):
    return f"FLOW_LAUNCH={os.getpid()}.{ident}".encode()


def children():
    """This process's children: leaders, and orphans reparented here (we are a subreaper)."""
    pids = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children", "rb") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        return []
    return pids


def environ_marks(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return {v for v in f.read().split(b"\0") if v.startswith(b"FLOW_LAUNCH=")}
    except OSError:
        return set()


def kill_orphan(pid):
    """SIGKILL an orphan (and the group it leads), and wait until it is gone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def stop_orphans():
    """Kills the orphans whose step's leader exited; returns the marks they carried.
    An orphan's own children come here as it dies: looked at again, a bounded number of times."""
    found = set()
    for _ in range(64):
        strays = [(p, m) for p in children() if p not in pids for m in [environ_marks(p) & ended_marks] if m]
        if not strays:
            break
        for pid, marks in strays:
            found |= marks
            kill_orphan(pid)
    return found


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def main():
    # Ctrl-C is flow's to handle; this process ends when flow's pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Orphaned descendants of steps come here instead of to init (see the top of this file).
    # Without prctl (not Linux) they cannot be found, and the commit's stat check still guards.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel.register(0, selectors.EVENT_READ, "control")
    sel.register(wake_r, selectors.EVENT_READ, "child")
    while True:
        for key, _ in sel.select():
            if key.data == "control":
                read_control()
            elif key.data == "child":
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
                reap()
            else:
                read_stream(key.fd)
        out.flush()


main()

"""Chapter kernels forked from a warm process.

Each chapter still runs in a fresh kernel process of its own, but that process is forked from a
"zygote" that has already imported what the chapters import (torch, matplotlib, this package,
ipykernel). A kernel started the usual way spends about 2.5 s of CPU on those imports and its
start-up, for every chapter and every exercise run; here a pipeline worker pays them once.

The zygote is forked by the worker before the worker has threads, an event loop or a socket; it
only imports and forks, and starts no thread of its own (numpy's BLAS pool, if the imports start
one, is made fork-safe by the library itself). Each kernel is double-forked from it, so it is
adopted by the worker (a Linux "child subreaper"), which waits for it and reads its own peak
memory. Where that is not available (not Linux), :func:`available` is false and the pipeline
starts kernels the usual way, through papermill.
"""
from __future__ import annotations

import ast
import ctypes
import functools
import importlib
import json
import os
import signal
import subprocess
import sys
import time

PR_SET_NAME, PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 15, 36, 37  # linux/prctl.h
ALWAYS = ("IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell")

_zygote: Zygote | None = None  # this worker's, set by start_zygote


class ZygoteGone(RuntimeError):
    """The zygote exited (killed?): kernels are then started the usual way."""


def _prctl(option: int, arg) -> bool:
    """Linux's prctl(2) with one argument; true when it succeeded."""
    return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0


def available() -> bool:
    """Linux, with the child-subreaper call (asked without changing anything)."""
    return sys.platform.startswith("linux") and _prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(ctypes.c_int()))


def imported_modules(sources) -> list[str]:
    """The modules the chapters' code cells import at their top level, in order of appearance
    (``from pkg import name`` also names ``pkg.name``, which may be a module), and what
    ``actlab.deterministic`` imports on its first call where a chapter calls it. A chapter that
    imports nothing heavy gets a zygote that imports nothing heavy."""
    import jupytext

    seen = dict.fromkeys(ALWAYS)
    for src in dict.fromkeys(sources):  # a chapter and its exercise runs share one source
        for cell in jupytext.read(src).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:  # IPython magics, or an error the chapter run reports itself
                continue
            for node in tree.body:
                if isinstance(node, ast.Import):
                    seen.update(dict.fromkeys(a.name for a in node.names))
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    seen[node.module] = None
                    seen.update(dict.fromkeys(f"{node.module}.{a.name}" for a in node.names if a.name != "*"))
            if any(isinstance(n, ast.Call) and getattr(n.func, "attr", getattr(n.func, "id", None)) == "deterministic"
                   for n in ast.walk(tree)):  # what actlab.deterministic imports on its first call
                from actlab.seeding import FIRST_CALL_IMPORTS

                seen.update(dict.fromkeys(FIRST_CALL_IMPORTS))
    return list(seen)


def _preload(modules: list[str]):
    # as ipykernel sets it, before matplotlib reads it; pyplot picks the backend on first use,
    # in the kernel, so the inline backend hooks into the kernel's shell as usual
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException:  # not a module (a function imported by name), or a broken one: the
            pass  # chapter's own import raises it, in its kernel, with the usual message
    sys.modules.pop("matplotlib_inline.backend_inline", None)


@functools.cache
def clean_path() -> list[str]:
    """sys.path as a kernel started by jupyter has it: a fresh interpreter's, without its first
    entry (ipykernel_launcher removes the working directory; IPython adds '' back). Asked once,
    by the pipeline, and handed to its workers."""
    out = subprocess.run([sys.executable, "-c", "import sys, json; print(json.dumps(sys.path[1:]))"],
                         capture_output=True, text=True, check=True, cwd="/")
    return json.loads(out.stdout)


class Zygote:
    """A process that has imported ``modules`` and forks kernels on request."""

    def __init__(self, modules: list[str], path: list[str]):
        req_r, self._req = os.pipe()
        self._rep, rep_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the zygote
            os.close(self._req)
            os.close(self._rep)
            code = 1
            try:
                _name(b"kernel-zygote")
                sys.path[:] = path  # import what the kernels will import, from where they would
                _preload(modules)
                _serve(req_r, rep_w, path)
                code = 0
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(rep_w)
        self._replies = os.fdopen(self._rep, "r")

    def fork_kernel(self, argv: list[str], cwd: str) -> int:
        """The pid of a new kernel started with ``argv`` (ipykernel's) in ``cwd``; it is this
        process's child (adopted), so :class:`Kernel` can wait for it."""
        try:
            os.write(self._req, (json.dumps({"argv": argv, "cwd": cwd, "parent": os.getpid()}) + "\n").encode())
            line = self._replies.readline()
        except OSError:
            line = ""
        if not line:
            raise ZygoteGone("the kernel zygote exited")
        return int(line)


def _serve(req_r: int, rep_w: int, path: list[str]):
    requests = os.fdopen(req_r, "r")
    for line in requests:  # end of file: the worker is gone
        spec = json.loads(line)
        r, w = os.pipe()
        sys.stdout.flush()  # nothing buffered is written twice, by the zygote and by a child
        sys.stderr.flush()
        middle = os.fork()
        if middle == 0:
            os.close(r)
            pid = os.fork()
            if pid == 0:
                os.close(w)
                os.close(req_r)
                os.close(rep_w)
                _kernel(spec, path)
            os.write(w, f"{pid}\n".encode())
            os._exit(0)  # the kernel is orphaned, and adopted by the worker (the subreaper)
        os.close(w)
        with os.fdopen(r, "r") as f:
            pid = int(f.readline())
        os.waitpid(middle, 0)  # after this the kernel's parent is the worker
        os.write(rep_w, f"{pid}\n".encode())


def _name(title: bytes):
    """The process's name in ps and top (its command line stays the worker's)."""
    _prctl(PR_SET_NAME, ctypes.c_char_p(title[:15]))


def _kernel(spec: dict, path: list[str]):
    code = 1
    try:
        _name(b"ipykernel")
        os.setsid()  # like jupyter's launcher: the terminal's Ctrl-C is for the pipeline, not the kernel
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(spec["cwd"])
        sys.path[:] = path
        sys.argv = ["ipykernel_launcher", *spec["argv"]]
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=[*spec["argv"], f"--IPKernelApp.parent_handle={spec['parent']}"])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# torch's CPU tensors come from glibc's malloc. By default a block over 128 KiB (a threshold that
# rises only as such blocks are freed) is mapped from the OS afresh and unmapped when freed, and
# free memory at the top of the heap beyond twice that threshold is handed back: each new tensor
# then page-faults its memory in again, a fifth of the ReLU chapter's time. With these values,
# blocks up to 32 MiB (the largest threshold glibc accepts) come from the heap, and up to 1 GiB of
# it stays mapped once freed, so memory is reused (at the cost of a higher peak). A forked kernel
# inherits the settings; a kernel that papermill starts reads them from the environment.
# environment variable: (mallopt's option, value); the options are M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
MALLOC = {"MALLOC_MMAP_THRESHOLD_": (-3, 32 << 20), "MALLOC_TRIM_THRESHOLD_": (-1, 1 << 30)}


def tune_malloc() -> bool:
    """MALLOC's values for this process, what it forks, and (its environment) what it starts;
    true when glibc took them (elsewhere the variables are set and nothing else changes)."""
    os.environ.update({k: str(v) for k, (_, v) in MALLOC.items()})
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # not glibc
        return False
    return all(mallopt(option, v) == 1 for option, v in MALLOC.values())


def start_zygote(modules: list[str], path: list[str]):
    """In a pipeline worker (where :func:`available` was checked), before anything else: become
    the subreaper, fork the zygote. ``path``: :func:`clean_path`, asked once by the pipeline."""
    global _zygote
    if _prctl(PR_SET_CHILD_SUBREAPER, 1):
        _zygote = Zygote(modules, path)


def zygote() -> Zygote | None:
    return _zygote


def forget_zygote():
    """After :class:`ZygoteGone`: this worker's kernels are started by papermill from now on."""
    global _zygote
    _zygote = None


class Kernel:
    """A forked kernel, as jupyter_client's provisioner sees a ``Popen``."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode = None
        self.rusage = None
        self.stdin = self.stdout = self.stderr = None  # what the provisioner's wait() closes
        self.clients = []  # the kernel clients nbclient made for it (it leaves them open: not its kernel)

    def poll(self):
        if self.returncode is None:
            try:
                pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode, self.rusage = os.waitstatus_to_exitcode(status), rusage
        return self.returncode

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def stop(self) -> float:
        """Kill it (its state is of no further use) and reap it: its peak memory in MB."""
        self.kill()
        self.wait()
        return self.rusage.ru_maxrss / 1024 if self.rusage else 0.0


def forked_kernel_manager(z: Zygote, cwd: str, extra_arguments: list[str]):
    """A jupyter kernel manager that already has a kernel, forked from ``z``; nbclient (and so
    papermill) uses it as it is. Returns (manager, kernel)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    km = AsyncKernelManager(kernel_name="python3")
    spec = km.kernel_spec  # looked up before the fork: a failure here leaves no kernel behind
    km.write_connection_file()
    # as nbclient would start it: no history file on disk
    try:
        pid = z.fork_kernel(["-f", km.connection_file, "--HistoryManager.hist_file=:memory:", *extra_arguments], cwd)
    except ZygoteGone:
        km.cleanup_connection_file()
        raise
    kernel = Kernel(pid)
    try:
        prov = LocalProvisioner(kernel_id=km.kernel_id or str(pid), kernel_spec=spec, parent=km)
        prov.process, prov.pid, prov.pgid = kernel, pid, pid
        km.provisioner = prov
        make_client = km.client

        def client(**kw):
            kc = make_client(**kw)
            kernel.clients.append(kc)
            return kc

        km.client = client
    except BaseException:
        release(km, kernel)
        raise
    return km, kernel


def release(km, kernel: Kernel) -> float:
    """Stop the kernel and its clients (their sockets and heartbeat threads live in the worker,
    which runs the next chapter), remove its connection file: the kernel's peak MB."""
    peak = kernel.stop()
    for kc in kernel.clients:
        kc.stop_channels()
        kc.context.destroy(linger=0)
    km.context.destroy(linger=0)
    km.cleanup_connection_file()
    return peak

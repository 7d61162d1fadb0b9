"""Writing files the user asked for: all of a batch or none of it, never through a link, never over
something that is not a regular file.

Each file is staged under a fresh name in its own folder (``tempfile.mkstemp``: created exclusively,
so a link planted there is never followed) and renamed over its target (``os.replace`` replaces a
name, it never writes through one). The targets are checked and the renames done under an exclusive
lock on the folder, with Ctrl-C and ``kill`` held until the last rename: two runs into one folder
take turns, and an interrupted run leaves either every file or none, and no staged file. Only a
run killed with SIGKILL while it writes can leave staged files behind: hidden ``.NAME.*.tmp`` files
in the target folder, never a visible name and nothing in the system's temporary folder.
"""
from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from symderive.errors import ExportError

try:
    import fcntl
except ImportError:  # not on Windows: no folder lock there
    fcntl = None

# The signals that end a run from outside; held while the files of a batch are published.
INTERRUPTS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def target_kind(path: Path) -> str:
    """``"absent"``, ``"file"`` (a regular file), or what else is there, read without following a link."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "absent"
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror}") from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or socket)"


def refuse_targets(folder: Path, names, force: bool) -> None:
    """Every target must be absent or a regular file; an existing file is replaced only with ``force``.
    A link, folder, device or FIFO is refused even with ``force``: replacing it is never what was meant."""
    kinds = {name: target_kind(folder / name) for name in names}
    odd = [f"{folder / name} is {kind}" for name, kind in kinds.items() if kind not in ("absent", "file")]
    if odd:
        raise ExportError("; ".join(odd) + "; symderive replaces only regular files")
    clashes = [name for name, kind in kinds.items() if kind == "file"]
    if len(clashes) == 1 and not force:
        raise ExportError(f"{folder / clashes[0]} exists; pass --force (force=True) to overwrite it")
    if clashes and not force:
        raise ExportError(f"{folder} already has {', '.join(clashes)}; pass --force to overwrite them")


@contextmanager
def signal_handlers(signums, handler):
    """``handler`` for ``signums`` inside the block, the previous handlers after it. Only the main
    thread can set handlers; in another thread the block runs with the handlers as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


@contextmanager
def interrupts_held():
    """Ctrl-C and ``kill`` wait until the block has ended, then reach the handler that was in place."""
    arrived = []
    try:
        with signal_handlers(INTERRUPTS, lambda signum, frame: arrived.append(signum)):
            yield
    finally:
        if arrived:
            signal.raise_signal(arrived[0])


@contextmanager
def folder_lock(folder: Path):
    """An exclusive ``flock`` on the folder itself, for as long as the block runs. The kernel drops it
    when the process ends, however it ends, so no stale lock is ever left; where the folder cannot be
    opened or the file system has no ``flock`` (some network file systems), the block runs unlocked."""
    fd = locked_descriptor(folder)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing the last descriptor releases the lock


def locked_descriptor(folder: Path) -> int | None:
    if fcntl is None:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another run holds the folder
    except OSError:
        pass  # this file system has no flock: unlocked, as documented
    except BaseException:
        os.close(fd)
        raise
    return fd


def stage(path: Path, data: str | bytes) -> Path:
    """``data`` (text as UTF-8) in a new file beside ``path``, with the permissions a new file gets."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; give the usual permissions
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise ExportError(f"cannot write {path}: {e.strerror}") from None
        raise
    return Path(tmp)


def write_files(folder: Path, files: dict[str, str | bytes], force: bool) -> list[Path]:
    """Write ``{name: contents}`` into ``folder``: every file or none (see the module docstring)."""
    if not folder.is_dir():
        raise ExportError(f"cannot write {folder / next(iter(files))}: the folder {folder} does not exist")
    refuse_targets(folder, files, force)  # before anything is written
    staged = {}
    with folder_lock(folder), interrupts_held():
        try:
            refuse_targets(folder, files, force)  # again, now that no other run can write here
            for name, data in files.items():
                staged[name] = stage(folder / name, data)
            for name in files:
                replace(staged[name], folder / name)
                del staged[name]
        finally:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
    return [folder / name for name in files]


def replace(staged: Path, target: Path) -> None:
    try:
        os.replace(staged, target)
    except OSError as e:
        raise ExportError(f"cannot write {target}: {e.strerror}") from None


def write_atomically(path: Path, data: str | bytes, force: bool) -> Path:
    """Write one file through a staged file and a rename: never a half-written file."""
    folder = path.parent if str(path.parent) else Path(".")
    return write_files(folder, {path.name: data}, force)[0]

"""Writing files: never through a link, never over what is not a regular file, every file of a batch
or none, one run at a time per folder, and nothing left behind when interrupted."""
import fcntl
import os
import signal
import stat
import threading

import pytest

from symderive import derivation
from symderive.errors import ExportError
from symderive.export import files
from symderive.export.files import interrupts_held, signal_handlers, write_atomically, write_files


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_dangling_link_is_refused_even_with_force(tmp_path):
    # Before: export -o onto a dangling link replaced the link without --force.
    link = tmp_path / "m.py"
    link.symlink_to(tmp_path / "nowhere")
    for force in (False, True):
        with pytest.raises(ExportError, match="m.py is a symbolic link; symderive replaces only regular files"):
            derivation("rnn").export(link, force=force)
    assert link.is_symlink() and listing(tmp_path) == ["m.py"]


def test_a_link_to_a_file_is_refused_and_the_file_is_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "m.py").symlink_to(victim)
    with pytest.raises(ExportError, match="symbolic link"):
        write_atomically(tmp_path / "m.py", "x", force=True)
    assert victim.read_text() == "precious" and (tmp_path / "m.py").is_symlink()


def test_a_fifo_is_refused_even_with_force(tmp_path):
    # Before: --force onto a device node replaced it with a regular file.
    fifo = tmp_path / "m.py"
    os.mkfifo(fifo)
    with pytest.raises(ExportError, match="not a regular file"):
        derivation("rnn").export(fifo, force=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and listing(tmp_path) == ["m.py"]


def test_a_device_node_is_refused_even_with_force(tmp_path):
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the device /dev/null is, at a path of ours
    except PermissionError:
        pytest.skip("making a device node needs root")
    with pytest.raises(ExportError, match="not a regular file"):
        write_atomically(device, "x", force=True)
    assert stat.S_ISCHR(os.lstat(device).st_mode) and listing(tmp_path) == ["null"]


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "m.py").mkdir()
    with pytest.raises(ExportError, match="m.py is a directory"):
        write_atomically(tmp_path / "m.py", "x", force=True)


def test_a_batch_is_written_whole_or_not_at_all(tmp_path):
    os.mkfifo(tmp_path / "b.txt")
    with pytest.raises(ExportError, match="b.txt is not a regular file"):
        write_files(tmp_path, {"a.txt": "a", "b.txt": "b"}, force=True)
    assert listing(tmp_path) == ["b.txt"]
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(ExportError, match="a.txt exists; pass --force"):
        write_files(tmp_path, {"a.txt": "a", "c.txt": "c"}, force=False)
    assert listing(tmp_path) == ["a.txt", "b.txt"]
    written = write_files(tmp_path, {"a.txt": "new", "c.txt": b"\x89PNG"}, force=True)
    assert written == [tmp_path / "a.txt", tmp_path / "c.txt"]
    assert (tmp_path / "a.txt").read_text() == "new" and (tmp_path / "c.txt").read_bytes() == b"\x89PNG"
    assert stat.S_IMODE(os.stat(tmp_path / "c.txt").st_mode) == 0o666 & ~files.current_umask()


def test_an_error_while_staging_leaves_nothing(tmp_path, monkeypatch):
    staged = []

    def stage_then_stop(path, data):
        if staged:
            raise KeyboardInterrupt
        staged.append(real_stage(path, data))
        return staged[-1]

    real_stage = files.stage
    monkeypatch.setattr(files, "stage", stage_then_stop)
    with pytest.raises(KeyboardInterrupt):
        write_files(tmp_path, {"a.txt": "a", "b.txt": "b"}, force=False)
    assert staged and listing(tmp_path) == []


class Stopped(BaseException):
    pass


def stop(signum, frame):
    raise Stopped


def test_a_signal_during_the_renames_waits_for_the_last_one(tmp_path, monkeypatch):
    # kill arriving after the first rename: the batch is completed, then the signal is handled.
    renamed = []

    def replace_and_signal(src, dst):
        real_replace(src, dst)
        renamed.append(dst)
        if len(renamed) == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    real_replace = os.replace
    monkeypatch.setattr(os, "replace", replace_and_signal)
    with signal_handlers([signal.SIGTERM], stop), pytest.raises(Stopped):
        write_files(tmp_path, {"a.txt": "a", "b.txt": "b", "c.txt": "c"}, force=False)
    assert listing(tmp_path) == ["a.txt", "b.txt", "c.txt"] and len(renamed) == 3


def test_held_signals_reach_the_previous_handler_even_after_an_error():
    before = signal.getsignal(signal.SIGTERM)
    with signal_handlers([signal.SIGTERM], stop), pytest.raises(Stopped):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGTERM)
            raise ValueError("the block failed")
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_check_and_the_renames_are_one_step_under_the_folder_lock(tmp_path):
    # Another run holds the folder: this one waits, then sees that run's file and refuses.
    holder = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    outcome = []

    def write():
        try:
            write_files(tmp_path, {"index.md": "mine"}, force=False)
            outcome.append("written")
        except ExportError as e:
            outcome.append(str(e))

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(0.5)
    assert writer.is_alive()  # waiting for the lock, having found no index.md before it
    (tmp_path / "index.md").write_text("theirs")
    os.close(holder)
    writer.join(10)
    assert outcome == [f"{tmp_path / 'index.md'} exists; pass --force (force=True) to overwrite it"]
    assert (tmp_path / "index.md").read_text() == "theirs" and listing(tmp_path) == ["index.md"]


def test_without_flock_the_files_are_still_written(tmp_path, monkeypatch):
    def no_flock(fd, operation):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    assert write_files(tmp_path, {"a.txt": "a"}, force=False) == [tmp_path / "a.txt"]
    assert listing(tmp_path) == ["a.txt"]

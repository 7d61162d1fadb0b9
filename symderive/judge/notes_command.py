"""``symderive check NOTES.md|NOTES.tex`` (or ``-`` with ``--format``): read, judge, report, and with ``--fix``
write a corrected copy (never over the original without ``--force``; written whole or not at all)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from symderive.errors import OptionError
from symderive.export.files import write_atomically
from symderive.judge.notes_check import check_notes
from symderive.judge.notes_report import exit_status, fixed_text, report_lines
from symderive.latex.notes_file import format_of


def check_file(name: str, fmt: str | None, as_json: bool, fix: str | None, force: bool) -> int:
    """Check the notes file ``name`` (``-``: standard input, then ``fmt`` is needed) and print the report;
    0 when every claim holds, 1 when one does not (or cannot be checked); bad input raises (exit 2)."""
    if name == "-" and fmt is None:
        raise OptionError("notes from standard input need --format md or --format tex")
    text = read_notes_text(name)
    if fix is not None:  # a target that would be refused is refused before the report, not after it
        target_free(name, fix, force)
    entries = check_notes(text, fmt or format_of(name))
    if as_json:
        print("[" + ",\n ".join(json.dumps(e.to_json(), ensure_ascii=False) for e in entries) + "]")
    else:
        print("\n".join(report_lines(entries, "<stdin>" if name == "-" else name)))
    if fix is not None:
        write_fixed(name, text, entries, fix, force)
    return exit_status(entries)


def read_notes_text(name: str) -> str:
    """The text of the notes (UTF-8, a byte-order mark allowed); a file that cannot be read is bad input."""
    try:
        if name == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        return Path(name).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise OptionError(f"{name}: cannot read it ({reason})") from None


def fixed_path(name: str, fix: str, force: bool) -> Path:
    """Where ``--fix`` writes: FILE, else NAME.fixed.EXT beside the notes; the notes themselves only with force."""
    if not fix and name == "-":
        raise OptionError("--fix needs a file name when the notes come from standard input (--fix FILE)")
    path = Path(fix) if fix else Path(name).with_name(f"{Path(name).stem}.fixed{Path(name).suffix}")
    if name != "-" and path.resolve() == Path(name).resolve() and not force:
        raise OptionError(f"--fix {fix} would overwrite the notes themselves; pass --force to correct them in place")
    return path


def target_free(name: str, fix: str, force: bool) -> None:
    """Refuse a ``--fix`` target that exists (other than the notes themselves, which need --force anyway)."""
    path = fixed_path(name, fix, force)
    if path.exists() and not force:
        raise OptionError(f"--fix: {path} exists; pass --force to overwrite it")


def write_fixed(name: str, text: str, entries, fix: str, force: bool) -> None:
    """Write the corrected copy (nothing when nothing can be corrected), saying so on standard error."""
    path = fixed_path(name, fix, force)
    fixed, count = fixed_text(text, entries)
    if not count:
        print("--fix: no formula to correct (nothing written)", file=sys.stderr)
        return
    write_atomically(path, fixed, force or path.resolve() == Path(name).resolve())
    print(f"wrote {path} ({count} formula{'s' if count > 1 else ''} corrected)", file=sys.stderr)

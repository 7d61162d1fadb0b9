"""The ``symderive`` command: list, show, notes, verify, export, flow, check.

Exit status: 0 on success, 1 when a verification fails, 2 for bad input (the message, no traceback;
with ``--json``, one JSON object on standard output), 130 after Ctrl-C and 128 + the signal's number
after ``kill`` (one line each).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import signal
import sys
import time
from pathlib import Path

from symderive import __version__
from symderive.derivations import available, derivation
from symderive.document import flow
from symderive.document.document import FORMATS
from symderive.document.flow_page import NOTES_FLOW
from symderive.document.notes import Progress, selected, write_notes
from symderive.errors import OptionError, SymderiveError
from symderive.export.backends import BACKENDS
from symderive.export.files import signal_handlers, write_atomically
from symderive.judge import notes_command
from symderive.judge.check import check, describe
from symderive.latex.model import read_model_text
from symderive.latex.notes_file import FORMATS as NOTES_FORMATS
from symderive.options import RenderOptions
from symderive.pipeline import Derivation, derive
from symderive.user_model import DEFAULT_NAME

# The signals that end a run from outside (Ctrl-C is Python's KeyboardInterrupt already).
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class UsageError(Exception):
    """A command line argparse cannot read, raised instead of argparse's print-and-exit so that
    ``main`` can answer in JSON when asked."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser, self.message = parser, message


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the run is so that it unwinds through its cleanups."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def terminate(signum, frame):
    raise Terminated(signum)


class Parser(argparse.ArgumentParser):
    """argparse, raising :class:`UsageError` (its subcommands' parsers are of this class too)."""

    def error(self, message):
        raise UsageError(self, message)


def installed_version() -> str:
    """The version in the installed package's metadata, else the source tree's ``symderive.__version__``."""
    try:
        return importlib.metadata.version("symderive")
    except importlib.metadata.PackageNotFoundError:
        return __version__


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def file_name(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("expected a file or folder name, got an empty one")
    return text


def notation_arguments(p) -> None:
    """The notation options every render command takes."""
    p.add_argument("--lang", choices=("en", "ko"), default="en", help="language of the prose (the math is shared)")
    p.add_argument("--layout", choices=("column", "row"),
                   help="column vectors (W_hh h_{t-1}) or row vectors (h_{t-1} W_hh); default: the model's own")
    p.add_argument("--bold", action="store_true", help="bold vectors and matrices")
    p.add_argument("--index-base", type=int, choices=(0, 1), default=0, help="convolution indices from 0 or from 1")


def notation(args) -> dict:
    chosen = {"lang": args.lang, "layout": args.layout, "bold": args.bold, "index_base": args.index_base}
    return {name: value for name, value in chosen.items() if value is not None}


def model_arguments(p) -> None:
    """The options that give a model of one's own in LaTeX (every command that takes a derivation)."""
    p.add_argument("--model", action="append", default=[],
                   help="forward equations in LaTeX (the last defines the loss; several per option with ; or \\\\)")
    p.add_argument("--model-file", action="append", default=[], metavar="FILE", type=file_name,
                   help="forward equations from a file: one per line, or a LaTeX align block")
    p.add_argument("--where", action="append", default=[],
                   help="a definition: \\delta_t = \\frac{\\partial L}{\\partial h_t} names an adjoint; "
                        "claims may use any")
    p.add_argument("--shape", action="append", default=[], help="'NAME: ROWS x COLS', 'NAME: SIZE' or 'NAME: 1'")
    p.add_argument("--range", action="append", default=[], dest="ranges", metavar="RANGE",
                   help="an index-level model's index range, 'LETTER: FIRST..LAST' (e.g. 'i: 1..m', 'o: 0..F-1')")
    p.add_argument("--name", dest="model_name", metavar="NAME",
                   help=f"the model's name (document title, module docstring; default {DEFAULT_NAME!r})")


def flow_arguments(p, default: flow.FlowSettings, bias_note: str = "") -> None:
    """The settings of a gradient-flow run (``flow``, and ``notes`` for its flow page), checked by FlowSettings."""
    p.add_argument("--hidden", type=positive_int, default=default.hidden, help=f"at most {flow.LIMITS['hidden']}")
    p.add_argument("--length", type=positive_int, default=default.length, help=f"at most {flow.LIMITS['length']}")
    p.add_argument("--seed", type=int, default=default.seed)
    p.add_argument("--radius", type=float, default=default.radius, help="spectral radius of the recurrent weights")
    p.add_argument("--forget-bias", type=float, default=default.forget_bias,
                   help=f"the LSTM's forget-gate bias b_if (default {default.forget_bias:g}{bias_note})")


def flow_settings(args) -> flow.FlowSettings:
    return flow.FlowSettings(args.hidden, args.length, args.seed, args.radius, args.forget_bias)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="symderive", description="Derive, render, export and verify gradients.")
    p.add_argument("--version", action="version", version=f"symderive {installed_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the available derivations")
    show = sub.add_parser("show", help="print a derivation as LaTeX, Markdown or a .tex document")
    show.add_argument("name", nargs="?", help="a built-in derivation (or give a model with --model)")
    model_arguments(show)
    show.add_argument("--format", choices=FORMATS, default="latex")
    show.add_argument("-o", "--output", type=file_name, help="write to this file instead of standard output")
    show.add_argument("--force", action="store_true", help="overwrite an existing output file")
    notation_arguments(show)
    show.add_argument("--truncate", type=positive_int, help="truncated BPTT after K steps")
    show.add_argument("--truncate-mode", choices=("blocks", "window"), default="blocks")
    notes = sub.add_parser("notes", help="write a notes site: a Markdown page per derivation, an index, the "
                                         "gradient-flow figure and one notes.tex")
    notes.add_argument("-o", "--output", required=True, metavar="DIR", type=file_name,
                       help="the folder to write into (created if missing)")
    notes.add_argument("--only", nargs="+", metavar="NAME", help="only these pages (derivation names, bptt, "
                                                                 "truncated-bptt, flow)")
    notes.add_argument("--force", action="store_true", help="overwrite files that exist in DIR")
    notation_arguments(notes)
    flow_arguments(notes, NOTES_FLOW, "; the flow page draws the LSTM at it and at 0")
    verify = sub.add_parser("verify", help="verify every derived gradient three ways")
    verify.add_argument("name", nargs="?")
    verify.add_argument("--all", action="store_true", help="verify every derivation")
    model_arguments(verify)
    export = sub.add_parser("export", help="write the forward and gradient functions as a NumPy module")
    export.add_argument("name", nargs="?", help="a built-in derivation (or give a model with --model)")
    model_arguments(export)
    export.add_argument("-o", "--output", required=True, type=file_name)
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.add_argument("--backend", choices=BACKENDS, default="numpy",
                        help="numpy (default), or numba: the loops over time steps compiled (needs numba)")
    flows = sub.add_parser("flow", help="gradient norms |dL_T/dh_t| against distance in time (vanishing/exploding)")
    flows.add_argument("names", nargs="*", metavar="cell", help="rnn, lstm, gru (default: all three)")
    flow_arguments(flows, flow.FlowSettings())
    flows.add_argument("--plot", type=file_name,
                       help="draw the norms on a log scale into this PNG (data next to it as .csv)")
    flows.add_argument("--force", action="store_true", help="overwrite existing plot files")
    claims = sub.add_parser("check", help="judge a hand-derived gradient written in LaTeX "
                                         "(exit 0 all hold, 1 one does not, 2 bad input)")
    claims.add_argument("name", nargs="?", help="a built-in derivation to check against (dense, rnn, lstm, gru, "
                                               "softmax, attention, layernorm, conv1d, conv2d, pool2d, cnn), or a "
                                               "notes file (.md, .tex; - for standard input) to check whole")
    model_arguments(claims)
    claims.add_argument("--claim", action="append", default=[], help="'DERIVATIVE = EXPRESSION' in LaTeX")
    claims.add_argument("--json", action="store_true", help="one JSON object per claim (and per error); for a notes "
                                                            "file one JSON array, an object per equation")
    claims.add_argument("--index-base", type=int, choices=(0, 1),
                        help="an index-level model's indices count from 0 or 1 (default: as written; 0 for a built-in)")
    claims.add_argument("--format", dest="notes_format", choices=NOTES_FORMATS,
                        help="the notes file's format (default: from its name; needed for standard input)")
    claims.add_argument("--fix", nargs="?", const="", metavar="FILE", type=str,
                        help="write the notes with the corrected formulas to FILE (default: NAME.fixed.EXT)")
    claims.add_argument("--force", action="store_true", help="let --fix overwrite an existing file")
    return p


def model_equations(args) -> list[str]:
    """The equations of ``--model`` and of every ``--model-file``; a name and a model together are refused."""
    if args.name and (args.model or args.model_file):
        raise OptionError(f"give either a built-in derivation or --model equations, not both (got {args.name} "
                          "and a model)")
    equations = list(args.model)
    for path in args.model_file:
        read = read_model_text(read_text(path))
        if not read:
            raise OptionError(f"--model-file {path}: no equations in it (one a line, or an align block; the last "
                              "defines the loss)")
        equations += read
    return equations


def read_text(path: str) -> str:
    """The text of a ``--model-file`` (UTF-8); a file that cannot be read is bad input naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise OptionError(f"--model-file {path}: cannot read it ({reason})") from None


def subject(args) -> Derivation:
    """The derivation a command works on: a built-in by name, or the model of --model/--model-file."""
    equations = model_equations(args)
    if args.model or args.model_file:
        name = DEFAULT_NAME if args.model_name is None else args.model_name
        return derive(model=equations, where=args.where, shapes=args.shape, ranges=args.ranges, name=name)
    given = [option for option, value in (("--where", args.where), ("--shape", args.shape), ("--range", args.ranges),
                                          ("--name", args.model_name is not None)) if value]
    if given:
        raise OptionError(f"{', '.join(given)}: only for a model given with --model or --model-file "
                          "(a built-in derivation has its own)")
    if not args.name:
        raise OptionError("name a built-in derivation (symderive list) or give a model with --model or --model-file")
    return derivation(args.name)


def cmd_check(args) -> int:
    if is_notes(args):
        return notes_command.check_file(args.name or "-", args.notes_format, args.json, args.fix, args.force)
    if args.fix is not None or args.notes_format or args.force:
        raise OptionError("--format, --fix and --force are for checking a notes file (symderive check NOTES.md)")
    equations = model_equations(args)
    if args.model_name is not None and not equations:
        raise OptionError("--name names a model given with --model or --model-file")
    results = check(model=equations, claims=args.claim, where=args.where, shapes=args.shape, derivation=args.name,
                    ranges=args.ranges, index_base=args.index_base)
    for r in results:
        print(json.dumps(r.to_json(), ensure_ascii=False) if args.json else describe(r))
    if any(r.verdict == "error" for r in results):
        return 2
    return 0 if all(r.holds for r in results) else 1


def is_notes(args) -> bool:
    """Is ``check``'s argument a notes file (``-``, a name with a notes suffix or an existing file, or any
    argument with ``--format``) rather than a built-in derivation? A notes file brings its own model and claims."""
    name = args.name
    notes = bool(args.notes_format) or name == "-" or (
        bool(name) and name not in available() and (Path(name).suffix != "" or Path(name).exists()))
    given = [o for o, v in (("--model", args.model or args.model_file), ("--claim", args.claim),
                            ("--where", args.where), ("--shape", args.shape), ("--range", args.ranges),
                            ("--name", args.model_name), ("--index-base", args.index_base is not None)) if v]
    if notes and given:
        raise OptionError(f"{', '.join(given)}: a notes file brings its own model and claims (annotations in it "
                          "settle what cannot be read: <!-- symderive: shape W: n x n -->)")
    return notes


def cmd_flow(args) -> int:
    unknown = [n for n in args.names if n not in flow.CELLS]
    if unknown:
        raise SymderiveError(f"flow works on recurrent cells; unknown: {', '.join(unknown)}; known: "
                             f"{', '.join(flow.CELLS)}")
    settings = flow_settings(args)
    if args.plot:
        flow.check_plot_path(Path(args.plot), args.force)  # before the minutes a large run can take
    results = {name: flow.flow(name, settings) for name in (args.names or flow.CELLS)}
    print(flow.table(results, settings.length))
    if args.plot:
        flow.plot(Path(args.plot), results, settings, force=args.force)
        print(f"wrote {args.plot} and {Path(args.plot).with_suffix('.csv')}", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    names = available()
    width = max(map(len, names))
    for name, title in names.items():
        print(f"{name.ljust(width)}  {title}")
    return 0


def cmd_show(args) -> int:
    d = subject(args)
    if args.truncate is not None and not d.recurrent:
        raise SymderiveError(f"--truncate applies to recurrent derivations; {d.name} is not recurrent")
    text = d.to_latex(args.format, truncate=args.truncate, truncate_mode=args.truncate_mode, **notation(args))
    if args.output:
        write_atomically(Path(args.output), text, args.force)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_verify(args) -> int:
    model_options = (args.model, args.model_file, args.where, args.shape, args.ranges, args.model_name is not None)
    if args.all and any((args.name, *model_options)):
        raise SymderiveError("--all verifies every built-in derivation; name one or give a model instead, not both")
    if not (args.all or args.name or args.model or args.model_file):
        raise SymderiveError("name one derivation to verify, give a model with --model or --model-file, or pass --all")
    names = list(available()) if args.all else [None]
    subjects = (derivation(name) if name else subject(args) for name in names)
    failed = False
    progress = Progress(len(names), after=0.0 if len(names) > 1 else float("inf"))
    for d in subjects:
        start = time.perf_counter()
        progress.step(f"verifying {d.name} ...")
        report = d.verify()
        print(report.table())
        print(f"({time.perf_counter() - start:.1f} s)\n")
        failed |= not report.passed
    return 1 if failed else 0


def cmd_notes(args) -> int:
    options, settings = RenderOptions(**notation(args)), flow_settings(args)  # bad settings: before any work
    progress = Progress(len(selected(args.only)[0]))
    written = write_notes(args.output, options, only=args.only, force=args.force, progress=progress,
                          flow_settings=settings)
    print(f"wrote {len(written)} files to {args.output}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    path = subject(args).export(args.output, force=args.force, backend=args.backend)
    print(f"wrote {path}", file=sys.stderr)
    return 0


COMMANDS = {"list": cmd_list, "show": cmd_show, "verify": cmd_verify, "export": cmd_export, "flow": cmd_flow,
            "check": cmd_check, "notes": cmd_notes}


def failure(error: BaseException) -> tuple[str, str, int]:
    """The message, the kind and the exit status of an error that ends a run."""
    if isinstance(error, UsageError):
        return error.message, "usage", 2
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", "interrupted", 130
    if isinstance(error, Terminated):
        return f"terminated ({signal.Signals(error.signum).name})", "terminated", 128 + error.signum
    return str(error), type(error).__name__, 2


def report(error: BaseException, as_json: bool) -> int:
    """One line on standard error as argparse words it (usage first for a usage error), or with
    ``--json`` one object on standard output: check's record (verdict "error", the message as the
    diagnosis) with the message and its kind also under ``error`` and ``kind``."""
    message, kind, status = failure(error)
    if as_json:
        print(json.dumps({"claim": None, "verdict": "error", "diagnosis": message, "max_rel_error": None,
                          "counterexample": None, "error": message, "kind": kind}, ensure_ascii=False))
    elif isinstance(error, UsageError):
        error.parser.print_usage(sys.stderr)
        print(f"{error.parser.prog}: error: {message}", file=sys.stderr)
    else:
        print(f"symderive: {'error: ' if status == 2 else ''}{message}", file=sys.stderr)
    return status


def pipe_closed() -> int:
    """Standard output was closed by its reader (``symderive flow | head``): stop quietly, as a
    program killed by SIGPIPE would, without a second error when Python flushes it at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 128 + 13


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: this process's) and return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = None
    with signal_handlers(TERMINATING, terminate):
        try:
            args = parser().parse_args(argv)
            return COMMANDS[args.command](args)
        except BrokenPipeError:
            return pipe_closed()
        except (UsageError, SymderiveError, KeyboardInterrupt, Terminated) as e:
            # Until the arguments are read, --json anywhere on the line asks for JSON.
            return report(e, getattr(args, "json", False) if args is not None else "--json" in argv)


if __name__ == "__main__":
    sys.exit(main())

"""The ``symderive`` command: list, show, notes, verify, export, flow, check.

Exit status: 0 on success, 1 when a verification fails, 2 for bad input (the message, no traceback).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
from pathlib import Path

from symderive import __version__
from symderive.derivations import available, derivation
from symderive.document.document import FORMATS
from symderive.document.notes import Progress
from symderive.errors import OptionError, SymderiveError
from symderive.export.files import write_atomically


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
        raise argparse.ArgumentTypeError(f"expected a positive integer (the number of steps K), got {value}")
    return value


def notation_arguments(p) -> None:
    """The notation options every render command takes."""
    p.add_argument("--lang", choices=("en", "ko"), default="en", help="language of the prose (the math is shared)")
    p.add_argument("--layout", choices=("column", "row"), default="column",
                   help="column vectors (W_hh h_{t-1}) or row vectors (h_{t-1} W_hh)")
    p.add_argument("--bold", action="store_true", help="bold vectors and matrices")
    p.add_argument("--index-base", type=int, choices=(0, 1), default=0, help="convolution indices from 0 or from 1")


def notation(args) -> dict:
    return {"lang": args.lang, "layout": args.layout, "bold": args.bold, "index_base": args.index_base}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="symderive", description="Derive, render, export and verify gradients.")
    p.add_argument("--version", action="version", version=f"symderive {installed_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the available derivations")
    show = sub.add_parser("show", help="print a derivation as LaTeX, Markdown or a .tex document")
    show.add_argument("name")
    show.add_argument("--format", choices=FORMATS, default="latex")
    show.add_argument("-o", "--output", help="write to this file instead of standard output")
    show.add_argument("--force", action="store_true", help="overwrite an existing output file")
    notation_arguments(show)
    show.add_argument("--truncate", type=positive_int, help="truncated BPTT after K steps")
    show.add_argument("--truncate-mode", choices=("blocks", "window"), default="blocks")
    notes = sub.add_parser("notes", help="write a notes site: a Markdown page per derivation, an index, the "
                                         "gradient-flow figure and one notes.tex")
    notes.add_argument("-o", "--output", required=True, metavar="DIR",
                       help="the folder to write into (created if missing)")
    notes.add_argument("--only", nargs="+", metavar="NAME", help="only these pages (derivation names, bptt, "
                                                                 "truncated-bptt, flow)")
    notes.add_argument("--force", action="store_true", help="overwrite files that exist in DIR")
    notation_arguments(notes)
    verify = sub.add_parser("verify", help="verify every derived gradient three ways")
    verify.add_argument("name", nargs="?")
    verify.add_argument("--all", action="store_true", help="verify every derivation")
    export = sub.add_parser("export", help="write the forward and gradient functions as a NumPy module")
    export.add_argument("name")
    export.add_argument("-o", "--output", required=True)
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    flow = sub.add_parser("flow", help="gradient norms |dL_T/dh_t| against distance in time (vanishing/exploding)")
    flow.add_argument("names", nargs="*", metavar="cell", help="rnn, lstm, gru (default: all three)")
    flow.add_argument("--hidden", type=positive_int, default=32)
    flow.add_argument("--length", type=positive_int, default=50)
    flow.add_argument("--seed", type=int, default=0)
    flow.add_argument("--radius", type=float, default=1.0, help="spectral radius of the recurrent weights")
    flow.add_argument("--forget-bias", type=float, default=0.0, help="the LSTM's forget-gate bias b_if")
    flow.add_argument("--plot", help="draw the norms on a log scale into this PNG (data next to it as .csv)")
    flow.add_argument("--force", action="store_true", help="overwrite existing plot files")
    check = sub.add_parser("check", help="judge a hand-derived gradient written in LaTeX "
                                         "(exit 0 all hold, 1 one does not, 2 bad input)")
    check.add_argument("name", nargs="?", help="a built-in derivation to check against (dense, rnn, lstm, gru)")
    check.add_argument("--model", action="append", default=[],
                       help="forward equations in LaTeX (the last defines the loss)")
    check.add_argument("--claim", action="append", default=[], help="'DERIVATIVE = EXPRESSION' in LaTeX")
    check.add_argument("--where", action="append", default=[], help="a definition used in claims (\\delta_t = ...)")
    check.add_argument("--shape", action="append", default=[], help="'NAME: ROWS x COLS', 'NAME: SIZE' or 'NAME: 1'")
    check.add_argument("--json", action="store_true", help="one JSON object per claim")
    return p


def cmd_check(args) -> int:
    import json

    from symderive.judge.check import check, describe

    if args.name and args.model:
        raise OptionError("give either a built-in derivation or --model equations, not both")
    try:
        results = check(model=args.model, claims=args.claim, where=args.where, shapes=args.shape, derivation=args.name)
    except SymderiveError as e:
        if args.json:
            print(json.dumps({"claim": None, "verdict": "error", "diagnosis": str(e), "max_rel_error": None,
                              "counterexample": None}))
            return 2
        raise
    for r in results:
        print(json.dumps(r.to_json(), ensure_ascii=False) if args.json else describe(r))
    if any(r.verdict == "error" for r in results):
        return 2
    return 0 if all(r.holds for r in results) else 1


def cmd_flow(args) -> int:
    from symderive.document import flow

    unknown = [n for n in args.names if n not in flow.CELLS]
    if unknown:
        raise SymderiveError(f"flow works on recurrent cells; unknown: {', '.join(unknown)}; known: "
                             f"{', '.join(flow.CELLS)}")
    settings = flow.FlowSettings(args.hidden, args.length, args.seed, args.radius, args.forget_bias)
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
    d = derivation(args.name)
    if args.truncate is not None and not d.recurrent:
        raise SymderiveError(f"--truncate applies to recurrent derivations; {args.name} is not recurrent")
    text = d.to_latex(args.format, truncate=args.truncate, truncate_mode=args.truncate_mode, **notation(args))
    if args.output:
        write_atomically(Path(args.output), text, args.force)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_verify(args) -> int:
    if args.all == bool(args.name):
        raise SymderiveError("name one derivation to verify, or pass --all")
    names = list(available()) if args.all else [args.name]
    failed = False
    progress = Progress(len(names), after=0.0 if len(names) > 1 else float("inf"))
    for name in names:
        d = derivation(name)
        start = time.perf_counter()
        progress.step(f"verifying {name} ...")
        report = d.verify()
        print(report.table())
        print(f"({time.perf_counter() - start:.1f} s)\n")
        failed |= not report.passed
    return 1 if failed else 0


def cmd_notes(args) -> int:
    from symderive.document.notes import selected, write_notes
    from symderive.options import RenderOptions

    options = RenderOptions(**notation(args))
    progress = Progress(len(selected(args.only)[0]))
    written = write_notes(args.output, options, only=args.only, force=args.force, progress=progress)
    print(f"wrote {len(written)} files to {args.output}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    path = derivation(args.name).export(args.output, force=args.force)
    print(f"wrote {path}", file=sys.stderr)
    return 0


COMMANDS = {"list": cmd_list, "show": cmd_show, "verify": cmd_verify, "export": cmd_export, "flow": cmd_flow,
            "check": cmd_check, "notes": cmd_notes}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SymderiveError as e:
        print(f"symderive: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

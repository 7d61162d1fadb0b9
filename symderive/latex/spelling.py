r"""How a model wrote each of its symbols: the LaTeX of a name without its time step, transpose or power.

``\mathbf{W}_X x_t`` writes ``\mathbf{W}_X`` and ``x``; ``h^{(1)}_{t-1}`` writes ``h^{(1)}``; ``\hat Y_t^\top``
writes ``\hat Y``. Documents print a model's identifiers in these spellings (``Program.latex_names``), so a
user's model reads in the user's notation. Each symbol is read by the reader's own atom reading
(:class:`~symderive.latex.reader.Reader`), so what is a label and what is an index is decided the same way.
"""
from __future__ import annotations

from symderive.errors import LatexParseError
from symderive.latex.atoms import ACCENTS, FONTS_BOLD, FONTS_PLAIN, Atom, subscript_indices
from symderive.latex.names import time_offset
from symderive.latex.parsed import Context
from symderive.latex.reader import Reader
from symderive.latex.tokens import TRANSPOSES, Token, text_of, tokenize
from symderive.latex.words import GREEK

#: commands a symbol may start with
STARTS = frozenset(GREEK) | FONTS_BOLD | FONTS_PLAIN | frozenset(ACCENTS)


def source_of(source: str, tokens: list[Token]) -> str:
    """The text of ``source`` the tokens were read from."""
    if not tokens:
        return ""
    end = tokens[-1].pos + len(tokens[-1].text)
    return source[tokens[0].pos:end]


def written_names(source: str) -> list[tuple[str, str]]:
    """``(the reader's name, its LaTeX as written)`` of every symbol of ``source``, in order."""
    tokens = tokenize(source)
    reader = Reader(Context(source), tokens)
    out: list = []
    while reader.i < len(tokens):
        start = reader.i
        text = tokens[start].text
        if not (text.isalpha() or text.lstrip("\\") in STARTS) or reader.function_name() is not None:
            reader.i = max(reader.i, start + 1)
            continue
        try:
            name, latex = spelled_atom(reader, source)
        except LatexParseError:
            reader.i = start + 1
            continue
        out.append((name, latex))
    return out


def spelled_atom(reader: Reader, source: str) -> tuple[str, str]:
    """(the reader's name, the LaTeX as written) of the symbol at the cursor: its letters, font, accents, labels,
    layer and primes, without the subscripts that are time steps and without transposes and powers."""
    atom = Atom(reader.ctx, reader.pos())
    start = reader.i
    reader.base(atom)
    parts = [source_of(source, reader.toks[start:reader.i])]
    while reader.peek() in ("_", "^", "'"):
        mark = reader.next_text()
        if mark == "'":
            atom.primes += 1
            parts.append("'")
            continue
        group_start = reader.i
        group = reader.group()
        written = source_of(source, reader.toks[group_start:reader.i])
        if mark == "_":
            atom.subscript(group, reader)
            if not is_time_step(group, reader.ctx):
                parts.append("_" + written)
        else:
            atom.superscript(group, reader)
            if text_of(group) not in TRANSPOSES and not atom.power:
                parts.append("^" + written)
    return name_in_model(atom), "".join(parts)


def is_time_step(group: list[Token], ctx: Context) -> bool:
    """Is the subscript ``group`` one time step (``t``, ``t-1``)? A model's other subscripts are labels."""
    indices = subscript_indices(group, ctx)
    return indices is not None and len(indices) == 1 and time_offset(indices[0]) is not None


def name_in_model(atom: Atom) -> str:
    """The name a model gives the atom (as :func:`~symderive.latex.names.relabel` does): its name, with
    indices that are not one time step as a label (``W_i``, ``h_0``)."""
    if atom.indices and not (len(atom.indices) == 1 and time_offset(atom.indices[0]) is not None):
        return f"{atom.name}_{''.join(map(str, atom.indices))}"
    return atom.name

"""Rewrite the golden files under tests/golden after an intended change of the rendered output:
``make golden`` (then review the diff with ``git diff tests/golden`` before committing)."""
from pathlib import Path

from symderive import available, derivation
from symderive.document.notes import page_names, render
from symderive.options import RenderOptions

GOLDEN = Path(__file__).parent / "golden"

for name in available():
    for fmt, ext in (("markdown", "md"), ("tex", "tex")):
        (GOLDEN / f"{name}.{ext}").write_text(derivation(name).to_latex(fmt), encoding="utf-8")
for lang in ("en", "ko"):
    folder = GOLDEN / "notes" / lang
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    files, _ = render(RenderOptions(lang=lang), [n for n in page_names() if n != "flow"])
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
print(f"refreshed {GOLDEN}")

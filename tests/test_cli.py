"""The command line: output, exit status 0/1/2, messages instead of tracebacks."""
import contextlib
import importlib.metadata
import io
import json
import signal
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symderive
from symderive.cli import main
from symderive.pipeline import Derivation
from symderive.verify.report import Report


def run(*args):
    return subprocess.run([sys.executable, "-m", "symderive.cli", *args], capture_output=True, text=True)


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("dense ") and "rnn" in out and "Backpropagation through time" in out


@pytest.mark.parametrize("fmt,marker", [("latex", r"\begin{align*}"), ("markdown", "use_math: true"),
                                        ("tex", r"\documentclass")])
def test_show_formats(capsys, fmt, marker):
    assert main(["show", "rnn", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert marker in out and r"\operatorname{diag}\left(1 - h_{j} \odot h_{j}\right) W_{hh}" in out


def test_show_truncated_window(capsys):
    assert main(["show", "rnn", "--truncate", "4", "--truncate-mode", "window"]) == 0
    out = capsys.readouterr().out
    assert "Window ($K = 4$" in out and r"\sum_{t=i+K}^{T}" in out and "Blocks (" not in out


def test_unknown_derivation_lists_known_names():
    result = run("show", "lstmm")
    assert result.returncode == 2
    known = "dense, conv1d, conv2d, pool2d, cnn, rnn, lstm, gru"
    assert f"unknown derivation 'lstmm'; known derivations: {known}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_bad_truncate_exits_2(value):
    result = run("show", "rnn", "--truncate", value)
    assert result.returncode == 2 and "positive integer" in result.stderr and "Traceback" not in result.stderr


def test_truncate_on_a_non_recurrent_model_exits_2(capsys):
    assert main(["show", "dense", "--truncate", "2"]) == 2
    assert "not recurrent" in capsys.readouterr().err


def test_show_output_file_and_force(tmp_path, capsys):
    path = tmp_path / "rnn.md"
    assert main(["show", "rnn", "--format", "markdown", "-o", str(path)]) == 0
    assert path.read_text().startswith("---\nlayout: post\n")
    assert main(["show", "rnn", "-o", str(path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["show", "rnn", "-o", str(path), "--force"]) == 0
    assert path.read_text().startswith(r"\subsection*{Model}")


def test_export_then_import(tmp_path):
    path = tmp_path / "rnn_grad.py"
    result = run("export", "rnn", "-o", str(path))
    assert result.returncode == 0, result.stderr
    assert run("export", "rnn", "-o", str(path)).returncode == 2
    assert run("export", "rnn", "-o", str(tmp_path / "no" / "x.py")).returncode == 2


def test_verify_needs_a_name_or_all(capsys):
    assert main(["verify"]) == 2
    assert "--all" in capsys.readouterr().err


def test_verify_rnn_prints_the_table_and_exits_0():
    result = run("verify", "rnn")
    assert result.returncode == 0, result.stdout + result.stderr
    header = result.stdout.splitlines()[1]
    for column in ("quantity", "symbolic", "rel. error", "max error", "allclose", "result"):
        assert column in header
    assert "all checks passed" in result.stdout


def test_version_from_the_package_metadata():
    result = subprocess.run([sys.executable, "-m", "symderive", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout == f"symderive {importlib.metadata.version('symderive')}\n"
    assert importlib.metadata.version("symderive") == symderive.__version__


def test_python_m_symderive_is_the_command_line(capsys):
    result = subprocess.run([sys.executable, "-m", "symderive", "list"], capture_output=True, text=True)
    assert main(["list"]) == 0
    assert result.returncode == 0 and result.stdout == capsys.readouterr().out
    bad = subprocess.run([sys.executable, "-m", "symderive", "show", "nosuch"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown derivation 'nosuch'" in bad.stderr and "Traceback" not in bad.stderr


def test_ctrl_c_is_one_line_and_exit_130():
    # Before: a KeyboardInterrupt traceback.
    child = subprocess.Popen([sys.executable, "-m", "symderive", "verify", "--all"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stderr.readline().startswith("[1/")  # "[1/8] verifying dense ...": inside the run
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, err) == (130, "symderive: interrupted\n")


def test_a_closed_standard_output_stops_quietly():
    # Before: `symderive flow | head` ended with a BrokenPipeError traceback.
    child = subprocess.Popen([sys.executable, "-m", "symderive", "flow", "--length", "5"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    child.stdout.close()
    err = child.stderr.read()
    assert (child.wait(60), err) == (141, "")


@pytest.mark.parametrize("args", [["show", "rnn", "-o", ""], ["export", "rnn", "-o", ""], ["flow", "--plot", ""],
                                  ["notes", "-o", ""]])
def test_an_empty_file_name_is_refused(capsys, args):
    assert main(args) == 2
    assert capsys.readouterr().err.endswith(
        "error: argument -o/--output: expected a file or folder name, got an empty one\n" if "-o" in args else
        "error: argument --plot: expected a file or folder name, got an empty one\n")


@pytest.mark.parametrize("args,kind,message", [
    (["check", "--json", "--bogus"], "usage", "unrecognized arguments: --bogus"),
    (["check", "--json", "--claim"], "usage", "argument --claim: expected one argument"),
    (["check", "rnn", "--model", "z = W x", "--json"], "OptionError",
     "give either a built-in derivation or --model equations, not both"),
    (["check", "nosuch", "--claim", "a = b", "--json"], "UnknownDerivationError", "unknown derivation 'nosuch'"),
])
def test_with_json_errors_are_json_too(capsys, args, kind, message):
    # Before: usage errors and the name-and-model conflict printed text to standard error.
    assert main(args) == 2
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert err == "" and len(out.splitlines()) == 1
    assert record["kind"] == kind and record["error"].startswith(message) and record["verdict"] == "error"
    assert record["diagnosis"] == record["error"] and record["claim"] is None


def test_usage_errors_read_as_argparse_words_them(capsys):
    assert main(["flow", "--hidden", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: symderive flow [-h]")
    assert err.endswith("symderive flow: error: argument --hidden: expected a positive integer, got 0\n")


# ---------------------------------------------------------------------------------------------
# A model of one's own: every command with --model, --model-file, --where, --shape and --name.

DENSE = r"z = W x + b; a = \sigma(z); L = \frac{1}{2}\|a - y\|^2"
RNN = r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b); L = \sum_{t=1}^{T} \frac{1}{2}\|h_t - y_t\|^2"
DELTA = r"\delta_t = \frac{\partial L}{\partial h_t}"
JACOBIAN = r"\operatorname{diag}\left(1 - h_{j} \odot h_{j}\right) W_{hh}"


@pytest.mark.parametrize("fmt,marker", [("latex", r"\begin{align*}"), ("markdown", "use_math: true"),
                                        ("tex", r"\documentclass")])
def test_show_a_model_in_every_format(capsys, fmt, marker):
    assert main(["show", "--model", RNN, "--where", DELTA, "--format", fmt, "--name", "my_rnn"]) == 0
    out = capsys.readouterr().out
    assert marker in out and JACOBIAN in out and r"\prod_{j=i+1}^{t}" in out
    title = {"latex": None, "markdown": 'title: "my_rnn"', "tex": r"\title{my\_rnn}"}[fmt]
    assert title is None or title in out  # a LaTeX fragment has no title
    assert r"\delta_{t} = \frac{\partial L}{\partial h_{t}}" in out  # the adjoint named by --where


@pytest.mark.parametrize("options,marker", [
    (["--lang", "ko"], "수반 점화식"),
    (["--layout", "row"], r"\tanh\left(h_{t-1} W_{hh} + x_{t} W_{xh} + b\right)"),
    (["--bold"], r"\mathbf{W}_{hh}"),
    (["--truncate", "2", "--truncate-mode", "window"], "$K = 2$"),
])
def test_show_a_model_with_every_option(capsys, options, marker):
    assert main(["show", "--model", RNN, *options]) == 0
    assert marker in capsys.readouterr().out


def test_show_a_model_given_as_several_options_and_a_file(tmp_path, capsys):
    lines = tmp_path / "dense.txt"
    lines.write_text("z = W x + b\n\n% the activation\na = \\sigma(z)\nL = \\frac{1}{2}\\|a - y\\|^2\n")
    align = tmp_path / "dense.tex"
    align.write_text("\\begin{align*}\n  z &= W x + b \\\\\n  a &= \\sigma(z) \\label{eq:a} \\\\\n"
                     "  L &= \\frac{1}{2}\\|a - y\\|^2\n\\end{align*}\n")
    outputs = []
    for args in (["--model", DENSE], ["--model", "z = W x + b", "--model", r"a = \sigma(z)", "--model",
                                      r"L = \frac{1}{2}\|a - y\|^2"], ["--model-file", str(lines)],
                 ["--model-file", str(align)], ["--model", "z = W x + b", "--model-file", str(lines)]):
        status = main(["show", *args])
        outputs.append((status, capsys.readouterr()))
    assert [s for s, _ in outputs] == [0, 0, 0, 0, 2]
    assert len({o.out for _, o in outputs[:4]}) == 1 and r"\sigma\left(z\right)" in outputs[0][1].out
    assert "z is defined twice" in outputs[4][1].err


def test_export_a_model_then_import_it(tmp_path):
    path = tmp_path / "rnn_grad.py"
    result = run("export", "--model", RNN, "--where", DELTA, "--name", "my_rnn", "-o", str(path))
    assert result.returncode == 0, result.stderr
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    assert namespace["__doc__"].startswith("my_rnn: forward pass") and r"\delta_{t}" in namespace["__doc__"]
    assert namespace["SYMBOLS"]["W_hh"] == "W_{hh}" and list(namespace["SYMBOLS"]) == list(namespace["SHAPES"])
    assert run("export", "--model", RNN, "-o", str(path)).returncode == 2  # exists, no --force


def test_verify_a_model_prints_the_table(capsys):
    assert main(["verify", "--model", DENSE, "--name", "layer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("verify layer\n") and "dL/dW " in out and "all checks passed" in out


def test_check_a_model_from_a_file(tmp_path, capsys):
    path = tmp_path / "model.txt"
    path.write_text(DENSE.replace("; ", "\n"))
    claim = r"\frac{\partial L}{\partial W} = ((a - y) \odot a \odot (1 - a)) x^\top"
    assert main(["check", "--model-file", str(path), "--claim", claim]) == 0
    assert "HOLDS" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["show", "rnn", "--model", DENSE], "give either a built-in derivation or --model equations, not both"),
    (["export", "dense", "--model-file", "m.txt", "-o", "x.py"], "give either a built-in derivation"),
    (["show"], "name a built-in derivation (symderive list) or give a model with --model or --model-file"),
    (["show", "rnn", "--shape", "W: n x n"], "--shape: only for a model given with --model or --model-file"),
    (["verify", "rnn", "--name", "x"], "--name: only for a model given with --model"),
    (["verify", "--all", "--model", DENSE], "--all verifies every built-in derivation"),
    (["show", "--model-file", "/nonexistent/model.tex"],
     "--model-file /nonexistent/model.tex: cannot read it (No such file or directory)"),
    (["show", "--model-file", "/dev/null"], "--model-file /dev/null: no equations in it"),
    (["show", "--model", DENSE, "--truncate", "2"], "--truncate applies to recurrent derivations; model is not"),
    (["show", "--model", r"z = W x + ; L = \|z\|^2"], "cannot read this: unexpected input\n  z = W x +\n"),
    (["export", "--model", r"z = W x; L = \|z\|^2", "--shape", "W: 2 x 3", "--shape", "x: 4", "-o", "x.py"],
     "shape mismatch in the product 'W*x': 2 x 3 times 4 x 1"),
    (["verify", "--model", r"z = W x; L = \|z\|^2", "--shape", "Q: 2 x 3"],
     "a shape is declared for Q, which the model does not use; the model's symbols are: W, x, z"),
])
def test_bad_models_exit_2_with_one_message(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"symderive: error: {message}") and "Traceback" not in err
    assert not (tmp_path / "x.py").exists()


@pytest.mark.parametrize("args,kind,message", [
    (["--model", r"z = W x + ; L = \|z\|^2"], "LatexParseError", "cannot read this: unexpected input\n"),
    (["--model", r"z = W x; L = \|z\|^2", "--shape", "W: 2 x 3", "--shape", "x: 4"], "ShapeMismatchError",
     "shape mismatch in the product 'W*x': 2 x 3 times 4 x 1"),
    (["--model", r"z = W x; L = \|z\|^2", "--shape", "Q: 2 x 3"], "ModelError", "a shape is declared for Q"),
    (["--model-file", "/nonexistent/m.tex"], "OptionError", "--model-file /nonexistent/m.tex: cannot read it"),
    (["rnn", "--name", "x"], "OptionError", "--name names a model given with --model"),
])
def test_check_model_errors_with_json_are_one_line(capsys, args, kind, message):
    assert main(["check", *args, "--claim", "a = b", "--json"]) == 2
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert err == "" and len(out.splitlines()) == 1
    assert record["kind"] == kind and record["error"].startswith(message)


# ---------------------------------------------------------------------------------------------
# Hypothesis over the options that give a model: any text ends in exit status 0, 1 or 2, never a traceback.

EQUATIONS = st.sampled_from([
    "z = W x + b", r"a = \sigma(z)", r"L = \frac{1}{2}\|a - y\|^2", r"h_t = \tanh(W h_{t-1} + U x_t)",
    r"L = \sum_{t=1}^{T} \frac{1}{2}\|h_t - y_t\|^2", "o = V a", "L = a", r"a = \max(0, z)", r"L = \|z\|^2",
    "z = W x +", r"a = \sigma(", "h_t = W h_{t+1}", "= x", "L"]) | st.text(max_size=16)
WHOLE_MODELS = st.sampled_from([
    DENSE, RNN, r"z = W x; L = \|z\|^2",
    r"h_t = \tanh(W h_{t-1} + U x_t); L = \sum_{t=1}^{T} \frac{1}{2}\|h_t - y_t\|^2",
    r"z = W x + b; a = \max(0, z); o = V a; L = \|o - y\|^2"])
MODELS = WHOLE_MODELS | WHOLE_MODELS | st.lists(EQUATIONS, min_size=1, max_size=4).flatmap(
    lambda parts: st.sampled_from(["; ", r" \\ ", "\n"]).map(lambda sep: sep.join(parts)))


def sometimes(draw, strategy, default=()):
    """``strategy``'s value one time in four, else ``default``."""
    return draw(strategy) if draw(st.integers(0, 3)) == 0 else default


SHAPE_TEXTS = st.sampled_from(["W: n x d", "x: d", "b: n", "w: 1", "W: 2 x 3", "x: 4", "Q: 2 x 3", "W:", ": 3",
                               "W: n x n x n", "W: -1 x 2"]) | st.text(max_size=10)
CLAIMS = st.sampled_from([r"\frac{\partial L}{\partial W} = ((a - y) \odot a \odot (1 - a)) x^\top",
                          r"\frac{\partial L}{\partial b} = a - y", "a = b"]) | st.text(max_size=12)
WHERES = st.sampled_from([r"\delta = \frac{\partial L}{\partial z}", r"\delta_t = \frac{\partial L}{\partial h_t}",
                          r"g = W x", r"\delta"]) | st.text(max_size=10)


@st.composite
def model_command(draw):
    """A command with a model from --model, --model-file (its text written to a file, or a missing one) or both,
    and now and then a built-in name, --where, --shape and --name."""
    command = draw(st.sampled_from(["show", "export", "verify", "check"]))
    argv, files = [command, *sometimes(draw, st.sampled_from([["dense"], ["rnn"], ["nosuch"]]))], {}
    for text in [draw(MODELS), *sometimes(draw, st.lists(MODELS, max_size=1))]:
        argv += ["--model", text]
    for text in sometimes(draw, st.lists(MODELS, max_size=1)):
        files[f"model{len(files)}.tex"] = text
        argv += ["--model-file", f"model{len(files) - 1}.tex"]
    argv += sometimes(draw, st.just(["--model-file", "missing.tex"]))
    for option, values in (("--shape", SHAPE_TEXTS), ("--where", WHERES)):
        argv += [f"{option}={text}" for text in sometimes(draw, st.lists(values, max_size=2))]
    argv += sometimes(draw, st.text(max_size=8).map(lambda name: [f"--name={name}"]))
    argv += {"show": lambda: draw(st.sampled_from([[], ["--truncate", "2"], ["--layout", "row", "--lang", "ko"]])),
             "export": lambda: ["-o", "out.py"], "verify": lambda: [],
             "check": lambda: [f"--claim={draw(CLAIMS)}"] + draw(st.sampled_from([[], ["--json"]]))}[command]()
    return argv, files


def test_any_model_options_end_in_0_1_or_2(monkeypatch, tmp_path):
    # verify's three-way run reads no option: a quick stand-in (the model is read and derived for real).
    def quick_verify(self):
        assert self.backward is not None  # derived for real
        return Report(self.name)

    monkeypatch.setattr(Derivation, "verify", quick_verify)
    monkeypatch.chdir(tmp_path)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(model_command())
    def run_one(command):
        argv, files = command
        for name, text in files.items():
            (tmp_path / name).write_text(text, encoding="utf-8")
        (tmp_path / "out.py").unlink(missing_ok=True)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            status = main(argv)
        assert status in (0, 1, 2), argv
        assert "Traceback" not in err.getvalue(), argv

    run_one()

"""The wheel: symderive is its only top-level package, and derivations/ is inside it as symderive.derivations."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder in the repository -> where its modules go in the wheel
SOURCES = {"symderive": "symderive", "derivations": "symderive/derivations"}


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> list[str]:
    """The file names in a wheel built from a copy of the sources (the build leaves build/ and *.egg-info behind)."""
    pytest.importorskip("setuptools", reason="setuptools (the build backend) is not installed")
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in SOURCES:
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                             "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = out.glob("symderive-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_symderive_is_the_only_top_level_package(wheel_files):
    top = {name.split("/")[0] for name in wheel_files}
    assert {name for name in top if not name.endswith(".dist-info")} == {"symderive"}
    assert "symderive/derivations/rnn.py" in wheel_files


def test_every_module_of_the_sources_is_in_the_wheel(wheel_files):
    # pyproject.toml lists the packages by name: a new subpackage left out of the list would be missing here.
    expected = {f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
                for folder, target in SOURCES.items() for path in (ROOT / folder).rglob("*.py")}
    assert expected - set(wheel_files) == set()

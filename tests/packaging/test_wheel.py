"""The project builds as a package: the product's modules, its licence, and the
classifier that keeps it off every package index. (Its own tier: it needs git
and ``python -m build``.)"""

from __future__ import annotations

import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from localservers.project import REPO_ROOT
from tests.utils.run import run


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # A copy of the files git would commit: setuptools' build/ and egg-info
    # left in a checkout by an earlier build would hide a missing file.
    source = tmp_path_factory.mktemp("source")
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout
    for name in filter(None, listed.split("\0")):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    # --no-isolation: setuptools and build come from the dev lock, so the
    # check needs no package index. The wheel is built from the sdist, as pip
    # would install it from one.
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, cwd=source)
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


def product_packages() -> set[str]:
    """Top-level folders with an __init__.py, apart from the tests."""
    return {
        path.parent.name for path in REPO_ROOT.glob("*/__init__.py") if path.parent.name != "tests"
    }


def test_every_product_package_is_named_in_pyproject() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert set(config["tool"]["setuptools"]["packages"]) == product_packages()


def test_wheel_holds_the_product_and_not_the_tests(wheel: zipfile.ZipFile) -> None:
    top_level = {Path(name).parts[0] for name in wheel.namelist()}
    assert product_packages() <= top_level
    assert "tests" not in top_level


def test_wheel_holds_every_file_the_packages_track(wheel: zipfile.ZipFile) -> None:
    # Data files too: bench's Lua scripts.
    tracked = run("git", "ls-files", *sorted(product_packages())).stdout.split()
    assert tracked
    assert set(tracked) <= set(wheel.namelist())


def test_wheel_is_private_and_licensed(wheel: zipfile.ZipFile) -> None:
    (metadata_name,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = wheel.read(metadata_name).decode()
    assert "Classifier: Private :: Do Not Upload" in metadata.splitlines()
    assert "License-Expression: MIT" in metadata.splitlines()
    licence = next(n for n in wheel.namelist() if n.endswith("/LICENSE"))
    assert wheel.read(licence).decode() == (REPO_ROOT / "LICENSE").read_text()
    assert "MIT License" in (REPO_ROOT / "LICENSE").read_text()

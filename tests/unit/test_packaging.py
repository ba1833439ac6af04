"""The project builds as a package: the product's modules, its licence, and the
classifier that keeps it off every package index."""

from __future__ import annotations

import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from localservers.project import REPO_ROOT
from tests.utils.run import run


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # --no-isolation: setuptools and build come from the dev lock, so the
    # check needs no package index.
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out)
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
    # Data files too: k8s-gen reads its patches from deploy/k8s/.
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

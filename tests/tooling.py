"""The tools helpers under their old name, for tests/manifests/ and
tests/cluster/ until they import tests.utils directly."""

from localservers.project import REPO_ROOT
from tests.utils.tools import in_ci, missing, require_tool

__all__ = ["REPO_ROOT", "in_ci", "missing", "require_tool"]

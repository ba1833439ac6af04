"""k8s-gen's output and its one-line errors, without kompose or kubectl."""

from __future__ import annotations

import re

import pytest
import yaml

from deploy import k8s_gen
from deploy.commands import DeployError


def test_the_base_kustomization_lists_exactly_the_files_written() -> None:
    objects = {
        "b-service.yaml": {"kind": "Service", "metadata": {"name": "b"}},
        "a-deployment.yaml": {"kind": "Deployment", "metadata": {"name": "a"}},
    }
    files = k8s_gen.render_base(objects)
    assert sorted(files) == ["a-deployment.yaml", "b-service.yaml", "kustomization.yaml"]
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["resources"] == ["a-deployment.yaml", "b-service.yaml"]
    for text in files.values():
        assert text.startswith(k8s_gen.HEADER)


def test_keys_are_sorted_so_the_same_input_gives_the_same_bytes() -> None:
    assert k8s_gen.dump({"b": 1, "a": [{"d": 2, "c": 3}]}).removeprefix(k8s_gen.HEADER) == (
        "a:\n  - c: 3\n    d: 2\nb: 1\n"
    )


def test_a_credential_in_any_file_is_refused() -> None:
    with pytest.raises(DeployError, match=re.escape("into k8s/base/x.yaml")):
        k8s_gen.check_no_credential({"ok.yaml": "a: b\n", "x.yaml": "v: s3cret\n"}, ["s3cret"])


@pytest.mark.parametrize(
    ("stderr", "message"),
    [
        (
            "error: no matches for Id Deployment.v1.apps/db.[noNs]; failed to find unique "
            "target for patch Deployment.v1.apps/db.[noNs]\n",
            "kompose made no object that a patch in k8s/kustomization.yaml targets: no matches",
        ),
        ("error: yaml: line 3: did not find expected node content\n", "fails with the new base"),
    ],
)
def test_kustomize_errors_are_one_line(stderr: str, message: str) -> None:
    explained = k8s_gen.kustomize_error(stderr)
    assert message in explained
    assert "\n" not in explained
    assert not explained.endswith("error: ")

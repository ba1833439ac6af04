"""What k8s-gen does to kompose's objects before kustomize (deploy/k8s_base.py),
and its checks of the rendered objects, on hand-made objects shaped like
kompose's: no kompose, no kubectl needed."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from deploy import k8s_base
from deploy.commands import DeployError
from deploy.k8s_base import Obj
from localservers.project import REPO_ROOT

# --- kompose-shaped objects --------------------------------------------------------


def kompose_deployment(name: str = "api", port: int = 8000) -> Obj:
    """A Deployment as kompose 1.38 writes one (trimmed)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"labels": {"io.kompose.service": name}, "name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"io.kompose.service": name}},
            "template": {
                "metadata": {"labels": {"io.kompose.service": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": "img",
                            "env": [
                                {"name": "DB_HOST", "value": "db"},
                                {"name": "DB_PASSWORD", "value": "dev-pw"},
                            ],
                            "livenessProbe": {
                                "exec": {"command": ["true"]},
                                "initialDelaySeconds": 10,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": port},
                                "periodSeconds": 5,
                            },
                            "ports": [{"containerPort": port, "protocol": "TCP"}],
                            "resources": {
                                "limits": {"cpu": "1", "memory": "201326592"},
                                "requests": {"cpu": "100m", "memory": "1073741824"},
                            },
                            "volumeMounts": [{"mountPath": "/tmp", "name": f"{name}-tmpfs0"}],
                        }
                    ],
                    "terminationGracePeriodSeconds": 20,
                    "volumes": [{"emptyDir": {"medium": "Memory"}, "name": f"{name}-tmpfs0"}],
                },
            },
        },
    }


def kompose_service(name: str = "api", port: int = 8000) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"labels": {"io.kompose.service": name}, "name": name},
        "spec": {
            "ports": [{"name": str(port), "nodePort": 30001, "port": port, "targetPort": port}],
            "selector": {"io.kompose.service": name},
            "type": "NodePort",
        },
    }


def container(deployment: Obj) -> Obj:
    return k8s_base.container_of(deployment)


# --- labels ------------------------------------------------------------------------


def test_kompose_labels_and_the_maps_they_filled_go() -> None:
    deployment = kompose_deployment()
    deployment["metadata"]["labels"]["keep"] = "me"
    stripped = k8s_base.without_kompose_labels(deployment)
    assert stripped["metadata"]["labels"] == {"keep": "me"}
    # The selector and the pods' labels come from k8s/kustomization.yaml alone.
    assert "selector" not in stripped["spec"]
    assert stripped["spec"]["template"]["metadata"] == {}
    service = k8s_base.without_kompose_labels(kompose_service())
    assert "selector" not in service["spec"]
    assert "io.kompose" not in repr([stripped, service])
    assert deployment["spec"]["selector"], "the input must stay untouched"


# --- ports, resources --------------------------------------------------------------


def test_ports_are_named_and_probes_and_the_service_target_them_by_name() -> None:
    deployment, service = k8s_base.with_named_ports(kompose_deployment(), kompose_service())
    assert container(deployment)["ports"] == [
        {"containerPort": 8000, "name": "http", "protocol": "TCP"}
    ]
    assert container(deployment)["readinessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": "http",
    }
    assert service is not None
    assert service["spec"]["ports"] == [
        {"name": "http", "nodePort": 30001, "port": 8000, "protocol": "TCP", "targetPort": "http"}
    ]


def test_a_port_without_a_name_is_refused() -> None:
    with pytest.raises(DeployError, match=re.escape("api has no named container port 8001")):
        k8s_base.with_named_ports(kompose_deployment(port=8001), None)


@pytest.mark.parametrize(
    ("kompose_wrote", "written"),
    [
        ("201326592", "192Mi"),
        ("1073741824", "1Gi"),
        ("1000000", "1000000"),  # not whole mebibytes: left as kompose wrote it
        ("100m", "100m"),
        ("1", "1"),
    ],
)
def test_memory_in_bytes_is_written_in_mebibytes(kompose_wrote: str, written: str) -> None:
    assert k8s_base.canonical_quantity(kompose_wrote) == written


def test_resources_are_canonical() -> None:
    resources = container(k8s_base.with_canonical_resources(kompose_deployment()))["resources"]
    assert resources == {
        "limits": {"cpu": "1", "memory": "192Mi"},
        "requests": {"cpu": "100m", "memory": "1Gi"},
    }


# --- the passwords -----------------------------------------------------------------


def test_a_literal_password_is_taken_out_and_reported() -> None:
    deployment, removed = k8s_base.without_secret_env(kompose_deployment(), ["DB_PASSWORD"])
    assert removed == ["dev-pw"]
    assert container(deployment)["env"] == [{"name": "DB_HOST", "value": "db"}]
    assert "dev-pw" not in repr(deployment)


def test_a_password_variable_kompose_did_not_write_is_refused() -> None:
    with pytest.raises(
        DeployError, match=re.escape("kompose output has no env MARIADB_PASSWORD in api")
    ):
        k8s_base.without_secret_env(kompose_deployment(), ["MARIADB_PASSWORD"])


def test_the_base_gets_everything_and_keeps_no_password() -> None:
    base, removed = k8s_base.base_objects(
        [kompose_deployment(), kompose_service()], {"api": ["DB_PASSWORD"]}
    )
    assert sorted(base) == ["api-deployment.yaml", "api-service.yaml"]
    assert removed == ["dev-pw"]
    deployment = base["api-deployment.yaml"]
    assert container(deployment)["resources"]["limits"]["memory"] == "192Mi"
    assert base["api-service.yaml"]["spec"]["ports"][0]["targetPort"] == "http"
    assert "dev-pw" not in repr(base)
    assert "io.kompose" not in repr(base)


def config_map(text: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "haproxy"},
        "data": {"haproxy.cfg": text},
    }


def mounting(deployment: Obj) -> Obj:
    deployment["spec"]["template"]["spec"]["volumes"] = [
        {"name": "haproxy", "configMap": {"name": "haproxy"}}
    ]
    return deployment


def config_hash(text: str) -> str | None:
    base, _ = k8s_base.base_objects([mounting(kompose_deployment()), config_map(text)], {})
    annotations = base["api-deployment.yaml"]["spec"]["template"]["metadata"].get("annotations")
    return (annotations or {}).get(k8s_base.CONFIG_HASH)


def test_a_changed_config_file_changes_the_pods_that_mount_it() -> None:
    # The hash is what rolls the pods: the same file, the same hash.
    assert config_hash("bind :8000\n") == config_hash("bind :8000\n")
    assert config_hash("bind :8000\n") != config_hash("bind :8001\n")
    unmounted, _ = k8s_base.base_objects([kompose_deployment(), config_map("x")], {})
    assert "annotations" not in unmounted["api-deployment.yaml"]["spec"]["template"]["metadata"]


# --- checks of the rendered objects ------------------------------------------------


def rendered_deployment(pre_stop: int = 5) -> Obj:
    """A Deployment as kustomize renders it: patched, labelled."""
    deployment, _ = k8s_base.with_named_ports(kompose_deployment(), None)
    deployment["metadata"]["labels"] = {k8s_base.COMPONENT: "api"}
    container(deployment)["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop}}}
    return deployment


def test_sound_rendered_objects_pass_the_checks() -> None:
    service = kompose_service()
    service["metadata"]["labels"] = {k8s_base.COMPONENT: "api"}
    k8s_base.check_rendered([rendered_deployment(), service])


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: container(d).pop("readinessProbe"), "no readiness probe for api"),
        (
            lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=5),
            "stop_grace_period longer than the 5 s preStop delay",
        ),
        (
            lambda d: d["spec"]["template"]["spec"].pop("terminationGracePeriodSeconds"),
            "stop_grace_period",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["volumes"].append({"name": "tmp"}),
            "volumes no container mounts: tmp",
        ),
        (
            # An object no patch gave a component (kompose made a new one).
            lambda d: d["metadata"]["labels"].clear(),
            "Deployment api has no app.kubernetes.io/component label",
        ),
    ],
)
def test_the_checks_refuse_what_compose_yaml_and_the_patches_no_longer_agree_on(
    breakage: Any, message: str
) -> None:
    deployment = rendered_deployment()
    breakage(deployment)
    with pytest.raises(DeployError, match=re.escape(message)):
        k8s_base.check_rendered([copy.deepcopy(deployment)])


# --- one place for each setting ----------------------------------------------------

# Set in compose.yaml and carried by kompose: a patch that wrote one of these
# would be a second place for the same setting.
FROM_COMPOSE = {
    "image",
    "imagePullPolicy",
    "nodePort",
    "readinessProbe",
    "resources",
    "storage",
    "strategy",
    "terminationGracePeriodSeconds",
}


def keys_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_in(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_in(item)}
    return set()


def test_no_patch_restates_what_compose_yaml_says() -> None:
    patches = {
        path.name: yaml.safe_load(path.read_text())
        for path in sorted((REPO_ROOT / "k8s" / "patches").glob("*.yaml"))
    }
    assert "api-deployment.yaml" in patches
    for name, patch in patches.items():
        assert not keys_in(patch) & FROM_COMPOSE, name

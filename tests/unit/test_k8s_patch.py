"""The patches k8s-gen applies to kompose's objects, on hand-made objects
shaped like kompose's: no kompose needed."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from deploy import k8s_manifests, k8s_patch
from deploy.k8s_patch import Obj, PatchError, merge

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
    return k8s_patch.container_of(deployment)


def container_patch(name: str = "api", **fields: Any) -> Obj:
    """A patch of one container of a Deployment, as deploy/k8s/ writes them."""
    return {"spec": {"template": {"spec": {"containers": [{"name": name, **fields}]}}}}


# --- merge -------------------------------------------------------------------------


def test_maps_merge_key_by_key_and_other_values_replace() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert merge(base, {"a": {"c": [3]}, "d": "y"}) == {"a": {"b": 1, "c": [3]}, "d": "y"}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}, "the base must stay untouched"


def test_replace_directive_swaps_a_whole_map() -> None:
    deployment = kompose_deployment()
    probe = {"$patch": "replace", "httpGet": {"path": "/healthz", "port": "http"}}
    patched = merge(deployment, container_patch(livenessProbe=probe))
    assert container(patched)["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}}


def test_list_items_merge_on_their_merge_key_and_new_ones_are_appended() -> None:
    base = {
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "ports": [{"containerPort": 8000, "protocol": "TCP"}],
        "volumeMounts": [{"mountPath": "/tmp", "name": "t"}],
    }
    patched = merge(
        base,
        {
            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
            "ports": [{"containerPort": 8000, "name": "http"}],
            "volumeMounts": [{"mountPath": "/tmp", "readOnly": False}],
        },
    )
    assert patched["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert patched["ports"] == [{"containerPort": 8000, "name": "http", "protocol": "TCP"}]
    assert patched["volumeMounts"] == [{"mountPath": "/tmp", "name": "t", "readOnly": False}]


def test_delete_directive_removes_an_item_that_must_exist() -> None:
    base = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    assert merge(base, {"env": [{"name": "A", "$patch": "delete"}]}) == {
        "env": [{"name": "B", "value": "2"}]
    }
    with pytest.raises(PatchError, match=re.escape("deletes env 'Z', which kompose did not make")):
        merge(base, {"env": [{"name": "Z", "$patch": "delete"}]})


# --- labels ------------------------------------------------------------------------


def test_kompose_labels_give_way_to_the_recommended_ones() -> None:
    patched = merge(
        k8s_patch.without_kompose_labels(kompose_deployment()),
        {"metadata": {"labels": {k8s_patch.COMPONENT: "api"}}},
    )
    labeled = k8s_patch.with_labels(patched)
    expected = {
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/name": "visit-counter",
        "app.kubernetes.io/part-of": "visit-counter",
    }
    assert labeled["metadata"]["labels"] == expected
    assert labeled["spec"]["template"]["metadata"]["labels"] == expected
    assert labeled["spec"]["selector"] == {
        "matchLabels": {
            "app.kubernetes.io/component": "api",
            "app.kubernetes.io/name": "visit-counter",
        }
    }
    service = k8s_patch.with_labels(
        merge(
            k8s_patch.without_kompose_labels(kompose_service()),
            {"metadata": {"labels": {k8s_patch.COMPONENT: "api"}}},
        )
    )
    assert service["spec"]["selector"] == labeled["spec"]["selector"]["matchLabels"]
    assert "io.kompose" not in repr([labeled, service])


def test_an_object_without_a_component_is_refused() -> None:
    with pytest.raises(
        PatchError, match=re.escape("Deployment api has no app.kubernetes.io/component")
    ):
        k8s_patch.with_labels(k8s_patch.without_kompose_labels(kompose_deployment()))


# --- ports, env, resources ---------------------------------------------------------


def named_http(deployment: Obj) -> Obj:
    return merge(
        deployment,
        container_patch(ports=[{"containerPort": 8000, "name": "http"}]),
    )


def test_probes_and_the_service_target_the_port_by_name() -> None:
    deployment, service = k8s_patch.with_named_ports(
        named_http(kompose_deployment()), kompose_service()
    )
    assert container(deployment)["readinessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": "http",
    }
    assert service["spec"]["ports"] == [
        {"name": "http", "nodePort": 30001, "port": 8000, "protocol": "TCP", "targetPort": "http"}
    ]


def test_a_probe_on_an_unnamed_port_is_refused() -> None:
    with pytest.raises(PatchError, match=re.escape("api has no named container port 8000")):
        k8s_patch.with_named_ports(kompose_deployment(), kompose_service())


def test_env_is_sorted_by_name() -> None:
    deployment = merge(
        kompose_deployment(),
        container_patch(env=[{"name": "A_FIRST", "value": "x"}]),
    )
    names = [e["name"] for e in container(k8s_patch.with_sorted_env(deployment))["env"]]
    assert names == ["A_FIRST", "DB_HOST", "DB_PASSWORD"]


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
    assert k8s_patch.canonical_quantity(kompose_wrote) == written


def test_resources_are_canonical() -> None:
    resources = container(k8s_patch.with_canonical_resources(kompose_deployment()))["resources"]
    assert resources == {
        "limits": {"cpu": "1", "memory": "192Mi"},
        "requests": {"cpu": "100m", "memory": "1Gi"},
    }


# --- the Secret --------------------------------------------------------------------


def test_a_literal_password_becomes_a_file_from_the_secret() -> None:
    deployment, removed = k8s_patch.with_secret_files(
        kompose_deployment(), "creds", {"DB_PASSWORD": "DB_PASSWORD"}, ["DB_PASSWORD", "OTHER"]
    )
    box = container(deployment)
    assert removed == ["dev-pw"]
    assert {"name": "DB_PASSWORD_FILE", "value": "/run/secrets/visit-counter/DB_PASSWORD"} in box[
        "env"
    ]
    assert "dev-pw" not in repr(deployment)
    assert deployment["spec"]["template"]["spec"]["volumes"][-1] == {
        "name": "creds",
        "secret": {
            "defaultMode": 0o440,
            "items": [{"key": "DB_PASSWORD", "path": "DB_PASSWORD"}],
            "secretName": "creds",
        },
    }
    assert box["volumeMounts"][-1] == {
        "mountPath": "/run/secrets/visit-counter",
        "name": "creds",
        "readOnly": True,
    }


def test_a_password_variable_kompose_did_not_write_is_refused() -> None:
    with pytest.raises(
        PatchError, match=re.escape("kompose output has no env MARIADB_PASSWORD in api")
    ):
        k8s_patch.with_secret_files(
            kompose_deployment(), "creds", {"MARIADB_PASSWORD": "DB_PASSWORD"}, ["DB_PASSWORD"]
        )


# --- checks ------------------------------------------------------------------------


def with_pre_stop(deployment: Obj, seconds: int) -> Obj:
    return merge(
        deployment,
        container_patch(lifecycle={"preStop": {"sleep": {"seconds": seconds}}}),
    )


def test_a_sound_workload_passes_the_checks() -> None:
    k8s_patch.check_workload(with_pre_stop(kompose_deployment(), 5))


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
    ],
)
def test_the_checks_refuse_what_compose_yaml_no_longer_gives(breakage: Any, message: str) -> None:
    deployment = with_pre_stop(kompose_deployment(), 5)
    breakage(deployment)
    with pytest.raises(PatchError, match=re.escape(message)):
        k8s_patch.check_workload(deployment)


# --- assembling with deploy/k8s/ ----------------------------------------------------


def data(**extra: Obj) -> dict[str, Obj]:
    component = {"metadata": {"labels": {k8s_patch.COMPONENT: "api"}}}
    ports = container_patch(ports=[{"containerPort": 8000, "name": "http"}])
    return {
        "all.patch.yaml": {"metadata": {"annotations": {"note": "everywhere"}}},
        "api-deployment.patch.yaml": merge(component, ports),
        "api-service.patch.yaml": copy.deepcopy(component),
        "kustomization.yaml": {
            "resources": ["api-deployment.yaml", "api-service.yaml"],
            "secretGenerator": [
                {
                    "name": "creds",
                    "envs": ["secret.env"],
                    "options": {"labels": {k8s_patch.COMPONENT: "api"}},
                }
            ],
        },
        **extra,
    }


def test_assembly_applies_every_patch_and_wires_the_secret() -> None:
    manifests = k8s_manifests.assemble([kompose_deployment(), kompose_service()], data())
    deployment = manifests.from_kompose["api-deployment.yaml"]
    service = manifests.from_kompose["api-service.yaml"]
    assert deployment["metadata"]["annotations"] == {"note": "everywhere"}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert container(deployment)["env"][1] == {
        "name": "DB_PASSWORD_FILE",
        "value": "/run/secrets/visit-counter/DB_PASSWORD",
    }
    assert manifests.removed_values == ["dev-pw"]
    assert manifests.secret_env_file == "secret.env"
    options = manifests.kustomization["secretGenerator"][0]["options"]
    assert options["annotations"] == {"note": "everywhere"}
    assert options["labels"]["app.kubernetes.io/part-of"] == "visit-counter"


def test_an_object_without_a_patch_file_is_refused() -> None:
    with pytest.raises(PatchError, match=re.escape("no patch for: db-service.yaml")):
        k8s_manifests.assemble(
            [kompose_deployment(), kompose_service(), kompose_service("db", 3306)], data()
        )


def test_a_patch_file_without_its_object_is_refused() -> None:
    with pytest.raises(
        PatchError, match=re.escape("kompose made no object for deploy/k8s/api-service")
    ):
        k8s_manifests.assemble([kompose_deployment()], data())


def test_the_kustomization_must_list_what_is_written() -> None:
    labels = {k8s_patch.COMPONENT: "api"}
    static = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": labels}}
    with pytest.raises(
        PatchError, match=re.escape("but k8s-gen writes api-deployment.yaml, api-service")
    ):
        k8s_manifests.assemble(
            [kompose_deployment(), kompose_service()], data(**{"x-configmap.yaml": static})
        )


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
    data = k8s_manifests.load_data()
    patches = {name: p for name, p in data.items() if name.endswith(k8s_manifests.PATCH_SUFFIX)}
    assert "api-deployment.patch.yaml" in patches
    for name, patch in patches.items():
        assert not keys_in(patch) & FROM_COMPOSE, name

"""Patches over kompose's objects, as pure functions of dicts.

Static settings live in ``deploy/k8s/*.patch.yaml`` and are merged with
:func:`merge`, a subset of kubectl's strategic merge patch. What depends on
the objects themselves is code here: the recommended labels and selectors,
port names where kompose writes numbers, the Secret's files in place of the
literal passwords, and the checks that compose.yaml still gives what the
patches build on.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

Obj = dict[str, Any]

APP = "visit-counter"
COMPONENT = "app.kubernetes.io/component"
# Where each workload finds the passwords, one file per Secret key.
SECRETS_DIR = "/run/secrets/visit-counter"
# A list item of a patch matches the base's item with the same value of the
# first of these keys it has (kubectl's merge keys for the lists used here:
# container and Service ports, volume mounts, then containers, env, volumes).
MERGE_KEYS = ("containerPort", "port", "mountPath", "name")
DIRECTIVE = "$patch"
_MIB = 1024 * 1024


class PatchError(Exception):
    """compose.yaml no longer gives what a patch builds on; one line for the user."""


# --- merging ---------------------------------------------------------------------


def merge(base: Obj, patch: Mapping[str, Any]) -> Obj:
    """``patch`` merged into a copy of ``base``.

    Maps merge key by key; ``$patch: replace`` in a map replaces the base's
    map whole. Lists of maps merge item by item on their merge key (see
    MERGE_KEYS), new items appended; an item with ``$patch: delete`` removes
    the base's item, which must exist. Any other value replaces the base's.
    """
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and value.get(DIRECTIVE) == "replace":
            merged[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != DIRECTIVE}
        elif isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and _merge_key(value):
            merged[key] = _merge_list(current, value, key)
        else:
            merged[key] = _without_directives(value)
    return merged


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for key in MERGE_KEYS:
        if all(key in item for item in items):
            return key
    return None


def _merge_list(base: list[Any], patch: list[Any], field: str) -> list[Any]:
    key = _merge_key(patch)
    merged = list(base)
    for item in patch:
        index = next(
            (
                i
                for i, old in enumerate(merged)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if item.get(DIRECTIVE) == "delete":
            if index is None:
                raise PatchError(
                    f"a patch deletes {field} {item[key]!r}, which kompose did not make"
                )
            del merged[index]
        elif index is None:
            merged.append(_without_directives(item))
        else:
            merged[index] = merge(merged[index], item)
    return merged


def _without_directives(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_directives(v) for k, v in value.items() if k != DIRECTIVE}
    if isinstance(value, list):
        return [_without_directives(item) for item in value]
    return copy.deepcopy(value)


# --- labels ----------------------------------------------------------------------


def recommended_labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, COMPONENT: component, "app.kubernetes.io/part-of": APP}


def selector_labels(component: str) -> dict[str, str]:
    # A Deployment's selector is immutable: select on the two labels that will
    # never change, not on the whole set.
    return {"app.kubernetes.io/name": APP, COMPONENT: component}


def without_kompose_labels(obj: Obj) -> Obj:
    """``obj`` without kompose's ``io.kompose.*`` labels and selectors."""
    stripped = copy.deepcopy(obj)
    spec = stripped.get("spec", {})
    for labels in (
        stripped.get("metadata", {}).get("labels"),
        spec.get("selector", {}).get("matchLabels") if stripped["kind"] == "Deployment" else None,
        spec.get("selector") if stripped["kind"] == "Service" else None,
        spec.get("template", {}).get("metadata", {}).get("labels"),
    ):
        if isinstance(labels, dict):
            for key in [k for k in labels if k.startswith("io.kompose.")]:
                del labels[key]
    return stripped


def component_of(obj: Obj) -> str:
    component = obj.get("metadata", {}).get("labels", {}).get(COMPONENT)
    if not component:
        raise PatchError(f"{obj['kind']} {obj['metadata']['name']} has no {COMPONENT} label")
    return str(component)


def with_labels(obj: Obj) -> Obj:
    """The recommended labels of the object's component on it, on its pods,
    and as the selector of its pods."""
    labeled = copy.deepcopy(obj)
    component = component_of(labeled)
    labeled["metadata"]["labels"] = recommended_labels(component)
    if labeled["kind"] == "Deployment":
        labeled["spec"]["selector"] = {"matchLabels": selector_labels(component)}
        labeled["spec"]["template"].setdefault("metadata", {})["labels"] = recommended_labels(
            component
        )
    elif labeled["kind"] == "Service":
        labeled["spec"]["selector"] = selector_labels(component)
    return labeled


# --- containers ------------------------------------------------------------------


def container_of(deployment: Obj) -> Obj:
    containers: list[Obj] = deployment["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise PatchError(
            f"Deployment {deployment['metadata']['name']} has {len(containers)} containers"
        )
    return containers[0]


def port_name(container: Obj, number: int) -> str:
    names = [p.get("name") for p in container.get("ports", []) if p["containerPort"] == number]
    if not names or not names[0]:
        raise PatchError(
            f"{container['name']} has no named container port {number}: name it in "
            f"deploy/k8s/{container['name']}-deployment.patch.yaml"
        )
    return str(names[0])


PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def with_named_ports(deployment: Obj, service: Obj) -> tuple[Obj, Obj]:
    """Probes and the Service target the container's ports by name, not the
    numbers kompose writes, and each Service port takes its target's name."""
    deployment, service = copy.deepcopy(deployment), copy.deepcopy(service)
    container = container_of(deployment)
    for probe in (container.get(name) for name in PROBES):
        for action in ("httpGet", "tcpSocket"):
            if probe and isinstance(probe.get(action, {}).get("port"), int):
                probe[action]["port"] = port_name(container, probe[action]["port"])
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        name = port_name(container, target) if isinstance(target, int) else str(target)
        [protocol] = [p.get("protocol", "TCP") for p in container["ports"] if p.get("name") == name]
        port.update(name=name, targetPort=name, protocol=protocol)
    return deployment, service


def with_sorted_env(deployment: Obj) -> Obj:
    """Env entries in name order, as kompose writes them, patches' included."""
    sorted_env = copy.deepcopy(deployment)
    container = container_of(sorted_env)
    container["env"] = sorted(container.get("env", []), key=lambda entry: str(entry["name"]))
    return sorted_env


def canonical_quantity(value: Any) -> Any:
    """kompose writes compose.yaml's memory sizes in bytes ("201326592"):
    whole mebibytes as ``NMi`` (``NGi``) instead, as people write them."""
    if not (isinstance(value, str) and value.isdigit()) or int(value) % _MIB:
        return value
    mebibytes = int(value) // _MIB
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def with_canonical_resources(deployment: Obj) -> Obj:
    result = copy.deepcopy(deployment)
    resources = container_of(result).get("resources", {})
    for bound in resources.values():
        for name, value in bound.items():
            bound[name] = canonical_quantity(value)
    return result


# --- the Secret ------------------------------------------------------------------


def with_secret_files(
    deployment: Obj, secret_name: str, env_to_key: Mapping[str, str], keys_order: Iterable[str]
) -> tuple[Obj, list[str]]:
    """Each literal ``NAME`` in ``env_to_key`` becomes ``NAME_FILE``, the path
    of its key's file from the Secret ``secret_name``, mounted read-only.
    Also the literal values it took out (no patch may leave them anywhere)."""
    result = copy.deepcopy(deployment)
    container = container_of(result)
    env = {entry["name"]: entry for entry in container.get("env", [])}
    absent = sorted(set(env_to_key) - set(env))
    if absent:
        raise PatchError(f"kompose output has no env {', '.join(absent)} in {container['name']}")
    removed = [str(env[name].get("value", "")) for name in env_to_key]
    container["env"] = [entry for entry in container["env"] if entry["name"] not in env_to_key]
    container["env"] += [
        {"name": f"{name}_FILE", "value": f"{SECRETS_DIR}/{key}"}
        for name, key in env_to_key.items()
    ]
    keys = [key for key in keys_order if key in env_to_key.values()]
    result["spec"]["template"]["spec"].setdefault("volumes", []).append(
        {
            "name": secret_name,
            "secret": {
                "secretName": secret_name,
                # Owner root, group fsGroup (the process's group), read-only: 0440.
                "defaultMode": 0o440,
                "items": [{"key": key, "path": key} for key in keys],
            },
        }
    )
    container.setdefault("volumeMounts", []).append(
        {"mountPath": SECRETS_DIR, "name": secret_name, "readOnly": True}
    )
    return result, [value for value in removed if value]


# --- checks ----------------------------------------------------------------------


def check_workload(deployment: Obj) -> None:
    """What compose.yaml must keep giving: a readiness probe (its labels), a
    grace period longer than the preStop delay (stop_grace_period), and no
    volume that no container mounts (a patch naming a volume kompose no longer
    makes)."""
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    container = container_of(deployment)
    if not container.get("readinessProbe"):
        raise PatchError(
            f"kompose made no readiness probe for {name}: set its "
            "kompose.service.healthcheck.readiness.* labels in compose.yaml"
        )
    delay = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
    grace = pod.get("terminationGracePeriodSeconds")
    if delay is not None and (not isinstance(grace, int) or grace <= delay):
        raise PatchError(
            f"compose.yaml's {name} needs a stop_grace_period longer than the {delay} s "
            f"preStop delay (kompose made terminationGracePeriodSeconds {grace})"
        )
    mounted = {mount["name"] for mount in container.get("volumeMounts", [])}
    unmounted = sorted(v["name"] for v in pod.get("volumes", []) if v["name"] not in mounted)
    if unmounted:
        raise PatchError(f"{name} has volumes no container mounts: {', '.join(unmounted)}")

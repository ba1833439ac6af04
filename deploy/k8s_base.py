"""kompose's objects made into ``k8s/base/``: only what kustomize cannot do.

kustomize merges everything else (``k8s/kustomization.yaml``). What stays code:

- kompose's ``io.kompose.*`` labels come out: kustomize can add labels but
  not remove them, and the Deployments' selectors (immutable on a live
  cluster) must be only the recommended labels kustomize adds.
- The literal passwords come out: kompose writes compose.yaml's development
  defaults into the env, and the base is committed. The patches mount the
  Secret's files instead (``NAME_FILE``).
- Ports get names (:data:`PORT_NAMES`): compose.yaml has nothing kompose
  turns into one, and naming the probe's port in a patch would restate
  compose.yaml's readiness labels.
- Memory in ``Mi``/``Gi``, not kompose's bytes: a patch saying ``192Mi``
  would be a second place for compose.yaml's limit.
- A pod template mounting one of kompose's ConfigMaps carries a hash of its
  content (:data:`CONFIG_HASH`), so a changed file rolls the pods that read
  it: kustomize hashes only what its own generators make.

:func:`check_rendered` then checks what kustomize rendered: the facts that
hold only because compose.yaml and the patches agree.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from deploy.commands import DeployError

Obj = dict[str, Any]

COMPONENT = "app.kubernetes.io/component"
# Each container's port names; the probes, Services and NetworkPolicies use them.
PORT_NAMES: Mapping[str, Mapping[int, str]] = {
    "balancer": {8000: "http", 8404: "monitor"},
    "api": {8000: "http"},
    "db": {3306: "mysql"},
}
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
CONFIG_HASH = "visit-counter.dev/config-sha256"
_MIB = 1024 * 1024


def file_name(obj: Obj) -> str:
    """kompose's file name for an object, also its name in k8s/base/."""
    return f"{obj['metadata']['name']}-{obj['kind'].lower()}.yaml"


def container_of(deployment: Obj) -> Obj:
    containers: list[Obj] = deployment["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise DeployError(
            f"Deployment {deployment['metadata']['name']} has {len(containers)} containers"
        )
    return containers[0]


def without_kompose_labels(obj: Obj) -> Obj:
    """Without ``io.kompose.*`` labels, and without maps that held only them."""
    stripped = copy.deepcopy(obj)
    spec = stripped.get("spec", {})
    selector_owner = spec if stripped["kind"] in ("Deployment", "Service") else {}
    template = spec.get("template", {})
    for owner, key in (
        (stripped.get("metadata", {}), "labels"),
        (selector_owner.get("selector", {}), "matchLabels"),
        (selector_owner, "selector"),
        (template.get("metadata", {}), "labels"),
    ):
        labels = owner.get(key)
        if not isinstance(labels, dict):
            continue
        for name in [k for k in labels if k.startswith("io.kompose.")]:
            del labels[name]
        if not labels:
            del owner[key]
    return stripped


def without_secret_env(deployment: Obj, variables: Iterable[str]) -> tuple[Obj, list[str]]:
    """Without the env entries ``variables``; and their literal values."""
    result = copy.deepcopy(deployment)
    container = container_of(result)
    env = {entry["name"]: entry for entry in container.get("env", [])}
    wanted = list(variables)
    absent = sorted(set(wanted) - set(env))
    if absent:
        raise DeployError(f"kompose output has no env {', '.join(absent)} in {container['name']}")
    container["env"] = [entry for entry in container["env"] if entry["name"] not in wanted]
    return result, [str(env[name].get("value", "")) for name in wanted if env[name].get("value")]


def port_name(container: Obj, number: int) -> str:
    name = PORT_NAMES.get(container["name"], {}).get(number)
    if name is None:
        raise DeployError(
            f"{container['name']} has no named container port {number}: "
            "name it in deploy/k8s_base.py's PORT_NAMES"
        )
    return name


def with_named_ports(deployment: Obj, service: Obj | None) -> tuple[Obj, Obj | None]:
    """Ports named; probes and Service ports target them by name, and each
    Service port takes its target's name and protocol."""
    deployment, service = copy.deepcopy(deployment), copy.deepcopy(service)
    container = container_of(deployment)
    for port in container.get("ports", []):
        port["name"] = port_name(container, port["containerPort"])
    for probe in (container.get(name) for name in PROBES):
        for action in ("httpGet", "tcpSocket"):
            if probe and isinstance(probe.get(action, {}).get("port"), int):
                probe[action]["port"] = port_name(container, probe[action]["port"])
    for port in service["spec"]["ports"] if service else []:
        target = port.get("targetPort", port["port"])
        name = port_name(container, target) if isinstance(target, int) else str(target)
        [protocol] = [p.get("protocol", "TCP") for p in container["ports"] if p["name"] == name]
        port.update(name=name, targetPort=name, protocol=protocol)
    return deployment, service


def canonical_quantity(value: Any) -> Any:
    """A size in bytes ("201326592") as whole ``NMi`` or ``NGi``."""
    if not (isinstance(value, str) and value.isdigit()) or int(value) % _MIB:
        return value
    mebibytes = int(value) // _MIB
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def with_canonical_resources(deployment: Obj) -> Obj:
    result = copy.deepcopy(deployment)
    for bound in container_of(result).get("resources", {}).values():
        for name, value in bound.items():
            bound[name] = canonical_quantity(value)
    return result


def with_config_hash(deployment: Obj, config_maps: Mapping[str, Obj]) -> Obj:
    pod = deployment["spec"]["template"]
    mounted = sorted(
        volume["configMap"]["name"]
        for volume in pod["spec"].get("volumes", [])
        if "configMap" in volume
    )
    if not mounted:
        return deployment
    content = json.dumps([config_maps[name].get("data", {}) for name in mounted], sort_keys=True)
    result = copy.deepcopy(deployment)
    annotations = result["spec"]["template"]["metadata"].setdefault("annotations", {})
    annotations[CONFIG_HASH] = hashlib.sha256(content.encode()).hexdigest()
    return result


def base_objects(
    objects: Iterable[Obj], secret_env: Mapping[str, Iterable[str]]
) -> tuple[dict[str, Obj], list[str]]:
    """File name -> object of k8s/base/, and the literal passwords taken out;
    ``secret_env``: each service's password variables."""
    base = {file_name(obj): without_kompose_labels(obj) for obj in objects}
    config_maps = {o["metadata"]["name"]: o for o in base.values() if o["kind"] == "ConfigMap"}
    removed: list[str] = []
    for name, deployment in sorted(base.items()):
        if deployment["kind"] != "Deployment":
            continue
        component = deployment["metadata"]["name"]
        deployment, taken = without_secret_env(deployment, secret_env.get(component, ()))
        removed += taken
        service_file = f"{component}-service.yaml"
        deployment, service = with_named_ports(deployment, base.get(service_file))
        if service is not None:
            base[service_file] = service
        base[name] = with_config_hash(with_canonical_resources(deployment), config_maps)
    return base, removed


def check_rendered(objects: Iterable[Obj]) -> None:
    """A component label on each object (a patch per object gives it), a
    readiness probe on each workload (compose.yaml's labels), a grace period
    longer than the preStop delay (stop_grace_period), and no volume that no
    container mounts (a patch naming a volume kompose no longer makes)."""
    for obj in objects:
        where = f"{obj['kind']} {obj['metadata']['name']}"
        if not obj["metadata"].get("labels", {}).get(COMPONENT):
            raise DeployError(f"{where} has no {COMPONENT} label: add a patch in k8s/patches/")
        if obj["kind"] != "Deployment":
            continue
        name = obj["metadata"]["name"]
        pod = obj["spec"]["template"]["spec"]
        container = container_of(obj)
        if not container.get("readinessProbe"):
            raise DeployError(
                f"kompose made no readiness probe for {name}: set its "
                "kompose.service.healthcheck.readiness.* labels in compose.yaml"
            )
        delay = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
        grace = pod.get("terminationGracePeriodSeconds")
        if delay is not None and (not isinstance(grace, int) or grace <= delay):
            raise DeployError(
                f"compose.yaml's {name} needs a stop_grace_period longer than the {delay} s "
                f"preStop delay (kompose made terminationGracePeriodSeconds {grace})"
            )
        mounted = {mount["name"] for mount in container.get("volumeMounts", [])}
        unmounted = sorted(v["name"] for v in pod.get("volumes", []) if v["name"] not in mounted)
        if unmounted:
            raise DeployError(f"{name} has volumes no container mounts: {', '.join(unmounted)}")

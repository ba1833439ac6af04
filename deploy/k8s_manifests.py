"""kompose's objects and the data in ``deploy/k8s/``, assembled into k8s/.

``deploy/k8s/`` holds, as YAML:

- ``NAME-KIND.patch.yaml``: merged into the object kompose made under that
  file name (``api-deployment.yaml``); every kompose object needs one.
- ``KIND.patch.yaml``: merged into every object of that kind first;
  ``all.patch.yaml`` into every object (and the Secret's metadata) before that.
- ``kustomization.yaml`` and any other ``*.yaml``: objects kompose has no
  counterpart for, written out as they are, with ``all.patch.yaml`` and the
  recommended labels like every object.

Order for a kompose object: kompose's own labels out, ``all``, ``KIND``,
``NAME-KIND``, then the code in ``deploy.k8s_patch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy import k8s_patch
from deploy.k8s_patch import Obj, PatchError
from deploy.k8s_secret import SECRET_ENV, SECRET_KEYS

DATA_DIR = Path(__file__).resolve().parent / "k8s"
KUSTOMIZATION = "kustomization.yaml"
PATCH_SUFFIX = ".patch.yaml"
ALL = "all"


@dataclass(frozen=True)
class Manifests:
    """File name -> object for k8s/, and the literal passwords kompose wrote."""

    from_kompose: dict[str, Obj]
    static: dict[str, Obj]
    kustomization: Obj
    removed_values: list[str]

    @property
    def secret_env_file(self) -> str:
        return str(self.kustomization["secretGenerator"][0]["envs"][0])


def load_data(data_dir: Path = DATA_DIR) -> dict[str, Obj]:
    """File name -> parsed YAML of every file in ``data_dir``."""
    data: dict[str, Obj] = {}
    for path in sorted(data_dir.glob("*.yaml")):
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise PatchError(f"deploy/k8s/{path.name} holds no YAML map")
        data[path.name] = loaded
    return data


def file_name(obj: Obj) -> str:
    """kompose's file name for an object, also its name in k8s/."""
    return f"{obj['metadata']['name']}-{obj['kind'].lower()}.yaml"


def assemble(objects: list[Obj], data: Mapping[str, Obj]) -> Manifests:
    patches = {
        name[: -len(PATCH_SUFFIX)]: p for name, p in data.items() if name.endswith(PATCH_SUFFIX)
    }
    every = patches.get(ALL, {})
    by_name = {file_name(obj): obj for obj in objects}
    stems = {name[: -len(".yaml")] for name in by_name}
    kinds = {obj["kind"].lower() for obj in objects}
    unpatched = sorted(name for name in by_name if name[: -len(".yaml")] not in patches)
    if unpatched:
        raise PatchError(
            f"kompose made objects deploy/k8s/ has no patch for: {', '.join(unpatched)} "
            "(add NAME-KIND.patch.yaml)"
        )
    stale = sorted(s for s in patches if s not in stems | kinds | {ALL})
    if stale:
        raise PatchError(
            f"kompose made no object for deploy/k8s/{stale[0]}{PATCH_SUFFIX}: compose.yaml "
            "no longer has what it patches; update one or the other"
        )

    patched: dict[str, Obj] = {}
    for name, obj in sorted(by_name.items()):
        obj = k8s_patch.without_kompose_labels(obj)
        for stem in (ALL, obj["kind"].lower(), name[: -len(".yaml")]):
            obj = k8s_patch.merge(obj, patches.get(stem, {}))
        patched[name] = k8s_patch.with_labels(obj)

    kustomization = data[KUSTOMIZATION]
    secret_name = str(kustomization["secretGenerator"][0]["name"])
    removed: list[str] = []
    for name, deployment in patched.items():
        if deployment["kind"] != "Deployment":
            continue
        component = deployment["metadata"]["name"]
        if component in SECRET_ENV:
            deployment, taken = k8s_patch.with_secret_files(
                deployment, secret_name, SECRET_ENV[component], SECRET_KEYS
            )
            removed += taken
        deployment = k8s_patch.with_canonical_resources(k8s_patch.with_sorted_env(deployment))
        service_file = f"{component}-service.yaml"
        if service_file in patched:
            deployment, patched[service_file] = k8s_patch.with_named_ports(
                deployment, patched[service_file]
            )
        k8s_patch.check_workload(deployment)
        patched[name] = deployment

    static = {
        name: k8s_patch.with_labels(k8s_patch.merge(obj, every))
        for name, obj in data.items()
        if not name.endswith(PATCH_SUFFIX) and name != KUSTOMIZATION
    }
    return Manifests(
        from_kompose=patched,
        static=static,
        kustomization=completed_kustomization(kustomization, every, [*patched, *static]),
        removed_values=removed,
    )


def completed_kustomization(kustomization: Obj, every: Obj, resources: list[str]) -> Obj:
    """The kustomization, its Secret's metadata completed like every object's;
    its ``resources`` must list exactly the manifests written."""
    listed = sorted(kustomization.get("resources", []))
    if listed != sorted(resources):
        raise PatchError(
            f"deploy/k8s/{KUSTOMIZATION} lists {', '.join(listed)} as resources, "
            f"but k8s-gen writes {', '.join(sorted(resources))}"
        )
    completed: Obj = k8s_patch.merge(kustomization, {})
    for generator in completed.get("secretGenerator", []):
        options: dict[str, Any] = k8s_patch.merge(generator.get("options", {}), every["metadata"])
        component = options.get("labels", {}).get(k8s_patch.COMPONENT, "")
        if not component:
            raise PatchError(f"the Secret {generator['name']} has no {k8s_patch.COMPONENT} label")
        options["labels"] = k8s_patch.recommended_labels(component)
        generator["options"] = options
    return completed

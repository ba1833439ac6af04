"""What `kubectl apply -k k8s/` would apply: schema-valid for the VM's Kubernetes,
checkov-clean, and shaped as the design says."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from localservers.project import REPO_ROOT
from tests.utils.manifests import Obj, Rendered, assert_checkov_passes
from tests.utils.run import run

# The Vagrant VM runs k3s v1.36.4+k3s1.
KUBERNETES_VERSION = "1.36.0"
RECOMMENDED = {
    "app.kubernetes.io/name": "visit-counter",
    "app.kubernetes.io/part-of": "visit-counter",
}
# The checkov findings k8s/ suppresses, each with its reason inline.
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def pod_spec(deployment: Obj) -> Obj:
    spec: Obj = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: Obj) -> Obj:
    containers: list[Obj] = pod_spec(deployment)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(deployment: Obj) -> dict[str, Obj]:
    return {entry["name"]: entry for entry in container(deployment).get("env", [])}


def compose_service(name: str) -> Obj:
    service: Obj = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())["services"][name]
    return service


def seconds(duration: str) -> int:
    """A Compose duration as kompose reads it: "20s", "1m30s"."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, "empty duration"
    assert parts, f"unexpected duration {duration!r}"
    return sum(int(n) * units[u] for n, u in zip(parts.groups(), "hms", strict=True) if n)


def gunicorn_setting(name: str) -> int:
    """A literal setting of gunicorn.conf.py, read without importing it."""
    tree = ast.parse((REPO_ROOT / "gunicorn.conf.py").read_text())
    values = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    assert len(values) == 1, f"gunicorn.conf.py sets {name} {len(values)} times"
    return int(values[0])


def resolve_port(deployment: Obj, port: Any) -> int:
    """A probe's or Service's port, named or numbered, as the container's number."""
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container(deployment)["ports"] if p.get("name") == port]
    assert numbers, f"no container port named {port!r}"
    return int(numbers[0])


def test_renders_every_object(rendered: Rendered) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in rendered.objects)
    secret_name = rendered.secret["metadata"]["name"]
    assert kinds == sorted(
        [
            ("ConfigMap", "haproxy"),
            ("Deployment", "balancer"),
            ("Deployment", "api"),
            ("Deployment", "db"),
            ("NetworkPolicy", "balancer"),
            ("NetworkPolicy", "api"),
            ("NetworkPolicy", "db"),
            ("PersistentVolumeClaim", "db-data"),
            ("PodDisruptionBudget", "api"),
            ("PodDisruptionBudget", "balancer"),
            ("Secret", secret_name),
            ("Service", "balancer"),
            ("Service", "api"),
            ("Service", "db"),
        ]
    )


def test_every_object_validates_strictly_against_kubernetes_1_36(rendered: Rendered) -> None:
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_strict_validation_is_not_vacuous(rendered: Rendered) -> None:
    # An unknown field and an unknown kind must both be refused, or the test
    # above would prove nothing.
    typo = copy.deepcopy(rendered.get("Deployment", "api"))
    typo["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    unknown = {"apiVersion": "v1", "kind": "NoSuchKind", "metadata": {"name": "x"}}
    with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
        kubernetes_validate.validate(unknown, KUBERNETES_VERSION, strict=True)


def test_api_runs_three_replicas_of_the_local_image(rendered: Rendered) -> None:
    api = rendered.get("Deployment", "api")
    assert api["spec"]["replicas"] == 3
    assert container(api)["image"] == "visit-counter-api:dev"
    assert container(api)["imagePullPolicy"] == "IfNotPresent"
    assert container(rendered.get("Deployment", "db"))["imagePullPolicy"] == "IfNotPresent"


def test_replica_name_is_the_pod_name(rendered: Rendered) -> None:
    entry = env_of(rendered.get("Deployment", "api"))["REPLICA_NAME"]
    assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_secret_holds_the_passwords_from_secret_env(rendered: Rendered) -> None:
    assert rendered.secret["type"] == "Opaque"
    assert set(rendered.secret["data"]) == set(rendered.passwords)
    for key, value in rendered.passwords.items():
        assert rendered.secret_value(key) == value


def secret_files(deployment: Obj, secret_name: str) -> dict[str, str]:
    """Secret key -> path of the file it is mounted as, in this workload."""
    volumes = [v for v in pod_spec(deployment)["volumes"] if "secret" in v]
    assert len(volumes) == 1
    volume = volumes[0]
    assert volume["secret"]["secretName"] == secret_name
    # Readable by the owner (root) and the pod's fsGroup, the process's group.
    assert volume["secret"]["defaultMode"] == 0o440
    mounts = [m for m in container(deployment)["volumeMounts"] if m["name"] == volume["name"]]
    assert len(mounts) == 1
    assert mounts[0]["readOnly"] is True
    base = mounts[0]["mountPath"]
    return {item["key"]: f"{base}/{item['path']}" for item in volume["secret"]["items"]}


def test_workloads_read_passwords_from_the_secret(rendered: Rendered) -> None:
    name = rendered.secret["metadata"]["name"]
    api, db = rendered.get("Deployment", "api"), rendered.get("Deployment", "db")

    api_files = secret_files(api, name)
    assert set(api_files) == {"DB_PASSWORD"}, "the API needs (and gets) its own password only"
    assert env_of(api)["DB_PASSWORD_FILE"]["value"] == api_files["DB_PASSWORD"]
    assert "DB_PASSWORD" not in env_of(api)

    db_files = secret_files(db, name)
    db_env = env_of(db)
    assert db_env["MARIADB_PASSWORD_FILE"]["value"] == db_files["DB_PASSWORD"]
    assert db_env["MARIADB_ROOT_PASSWORD_FILE"]["value"] == db_files["DB_ROOT_PASSWORD"]
    assert not {"MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD"} & set(db_env)
    # The same account on both sides.
    assert env_of(api)["DB_USER"]["value"] == db_env["MARIADB_USER"]["value"]
    assert env_of(api)["DB_NAME"]["value"] == db_env["MARIADB_DATABASE"]["value"]


def test_no_literal_password_in_any_workload(rendered: Rendered) -> None:
    for obj in rendered.objects:
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for value in rendered.passwords.values():
            assert value not in text, f"{obj['kind']} {obj['metadata']['name']} holds a password"
    for deployment in rendered.workloads:
        for name in env_of(deployment):
            if "PASSWORD" in name:
                assert name.endswith("_FILE"), f"{name} in {deployment['metadata']['name']}"


def test_nodeport_30001_reaches_the_balancer_on_8000(rendered: Rendered) -> None:
    service = rendered.get("Service", "balancer")
    balancer = rendered.get("Deployment", "balancer")
    assert service["spec"]["type"] == "NodePort"
    [port] = service["spec"]["ports"]
    assert port["nodePort"] == 30001
    assert port["port"] == 8000
    # Each node answers from its own balancer when it has one.
    assert service["spec"]["trafficDistribution"] == "PreferSameNode"
    assert resolve_port(balancer, port["targetPort"]) == 8000
    assert (
        service["spec"]["selector"].items()
        <= balancer["spec"]["template"]["metadata"]["labels"].items()
    )


def test_the_api_service_is_headless_so_the_balancer_sees_every_pod(rendered: Rendered) -> None:
    service = rendered.get("Service", "api")
    api = rendered.get("Deployment", "api")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    [port] = service["spec"]["ports"]
    assert "nodePort" not in port
    assert resolve_port(api, port["targetPort"]) == 8000
    assert (
        service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    )


def test_the_balancer_runs_three_replicas_with_one_config(rendered: Rendered) -> None:
    balancer = rendered.get("Deployment", "balancer")
    assert balancer["spec"]["replicas"] == 3
    assert container(balancer)["image"] == "haproxy:3.0"
    # The repository's haproxy/haproxy.cfg, unchanged, at the official path.
    config = rendered.get("ConfigMap", "haproxy")["data"]["haproxy.cfg"]
    assert config == (REPO_ROOT / "haproxy" / "haproxy.cfg").read_text()
    [mount] = container(balancer)["volumeMounts"]
    assert mount["mountPath"] == "/usr/local/etc/haproxy/haproxy.cfg"
    env = env_of(balancer)
    # The headless Service's full name in the pod's own namespace; one cookie
    # key for every replica, so a session sticks whichever answers.
    names = list(env)
    assert names.index("POD_NAMESPACE") < names.index("API_HOST")
    assert env["API_HOST"]["value"] == "api.$(POD_NAMESPACE).svc.cluster.local"
    assert env["BALANCER_COOKIE_KEY"]["value"]
    # Deleting or rolling a balancer pod fails nothing: it serves on while its
    # endpoint goes, then HAProxy finishes what is in flight.
    pre_stop = container(balancer)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod_spec(balancer)["terminationGracePeriodSeconds"] >= pre_stop + 15
    assert container(balancer)["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert resolve_port(balancer, container(balancer)["readinessProbe"]["httpGet"]["port"]) == 8404


@pytest.mark.parametrize("name", ["api", "balancer"])
def test_stateless_pods_spread_over_nodes_and_leave_a_lost_one_within_a_minute(
    rendered: Rendered, name: str
) -> None:
    spec = pod_spec(rendered.get("Deployment", name))
    [spread] = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "DoNotSchedule")
    # A cordoned or lost node does not count, or its empty slot would block
    # every replacement; each Deployment and revision is spread on its own.
    assert spread["nodeTaintsPolicy"] == "Honor"
    assert spread["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": "visit-counter"}}
    assert spread["matchLabelKeys"] == ["app.kubernetes.io/component", "pod-template-hash"]
    # The controller manager marks a lost node after 50 s; 10 s more, not
    # the default 300, and its pods are replaced about a minute after the loss.
    tolerated = {t["key"]: t for t in spec["tolerations"]}
    for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        assert tolerated[taint]["effect"] == "NoExecute"
        assert tolerated[taint]["tolerationSeconds"] == 10


def test_the_database_stays_with_its_volume(rendered: Rendered) -> None:
    # Its claim lives on one node: no spread, no early eviction to nowhere.
    spec = pod_spec(rendered.get("Deployment", "db"))
    assert "topologySpreadConstraints" not in spec
    assert "tolerations" not in spec


@pytest.mark.parametrize(("name", "replicas", "min_available"), [("api", 3, 2), ("balancer", 3, 2)])
def test_disruption_budgets_keep_all_but_one_pod(
    rendered: Rendered, name: str, replicas: int, min_available: int
) -> None:
    budget = rendered.get("PodDisruptionBudget", name)["spec"]
    deployment = rendered.get("Deployment", name)
    assert deployment["spec"]["replicas"] == replicas
    assert budget["minAvailable"] == min_available == replicas - 1
    # It counts exactly the Deployment's pods, and never blocks a drain on a
    # pod that serves nothing anyway.
    assert budget["selector"] == deployment["spec"]["selector"]
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_database_service_is_internal(rendered: Rendered) -> None:
    service = rendered.get("Service", "db")
    db = rendered.get("Deployment", "db")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    [port] = service["spec"]["ports"]
    assert port["port"] == 3306
    assert resolve_port(db, port["targetPort"]) == 3306
    assert (
        service["spec"]["selector"].items() <= db["spec"]["template"]["metadata"]["labels"].items()
    )


def test_database_keeps_its_data_on_a_claim(rendered: Rendered) -> None:
    claim = rendered.get("PersistentVolumeClaim", "db-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    db = rendered.get("Deployment", "db")
    [volume] = [v for v in pod_spec(db)["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == "db-data"
    [mount] = [m for m in container(db)["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["mountPath"] == "/var/lib/mysql"
    # One server on the data dir at any time: the old pod stops before the new starts.
    assert db["spec"]["replicas"] == 1
    assert db["spec"]["strategy"] == {"type": "Recreate"}


def test_api_probes_never_depend_on_the_database(rendered: Rendered) -> None:
    api = rendered.get("Deployment", "api")
    box = container(api)
    for probe_name in PROBES:
        probe = box[probe_name]
        # httpGet only: an exec probe can't touch the database by accident.
        assert set(probe) - {"periodSeconds", "timeoutSeconds", "failureThreshold"} == {"httpGet"}
        # Not even readiness: the database is shared by every replica, so a
        # readiness on /readyz would take all of them out of the Service in an
        # outage (refused connections) instead of each answering its own 503.
        assert probe["httpGet"]["path"] == "/healthz", probe_name
        assert resolve_port(api, probe["httpGet"]["port"]) == 8000


def test_api_readiness_is_what_the_compose_labels_say(rendered: Rendered) -> None:
    api = compose_service("api")
    labels = api["labels"]
    prefix = "kompose.service.healthcheck.readiness."
    deployment = rendered.get("Deployment", "api")
    probe = container(deployment)["readinessProbe"]
    assert probe["httpGet"]["path"] == labels[prefix + "http_get_path"]
    port = resolve_port(deployment, probe["httpGet"]["port"])
    assert port == int(labels[prefix + "http_get_port"])
    assert probe["periodSeconds"] == seconds(labels[prefix + "interval"])
    assert probe["timeoutSeconds"] == seconds(labels[prefix + "timeout"])
    assert probe["failureThreshold"] == int(labels[prefix + "retries"])
    # Compose's own health check keeps /readyz: Compose routes nothing by
    # health, and `depends_on`/`up --wait` should wait for the database.
    assert any("/readyz" in part for part in api["healthcheck"]["test"])


def test_prometheus_scrapes_the_api_pods_on_their_http_port(rendered: Rendered) -> None:
    api = rendered.get("Deployment", "api")
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")} == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": "/metrics",
    }
    assert resolve_port(api, "http") == int(annotations["prometheus.io/port"])
    # On the pods, where Prometheus' pod discovery looks, not on the objects.
    for obj in rendered.objects:
        assert "prometheus.io/scrape" not in obj["metadata"].get("annotations", {}), obj["kind"]


def test_api_drains_before_it_stops(rendered: Rendered) -> None:
    api = rendered.get("Deployment", "api")
    # The native sleep action: no `sleep` binary needed in the image. The pod
    # keeps serving until no balancer's DNS cache (30 s) can still name it.
    assert container(api)["lifecycle"] == {"preStop": {"sleep": {"seconds": 35}}}
    grace = pod_spec(api)["terminationGracePeriodSeconds"]
    # The grace period covers the preStop sleep, then gunicorn's own graceful
    # stop, with margin before the SIGKILL.
    assert grace >= 35 + gunicorn_setting("graceful_timeout") + 5
    # Written once: compose.yaml's stop_grace_period, which kompose carries.
    assert grace == seconds(compose_service("api")["stop_grace_period"])


def test_database_probes_log_in(rendered: Rendered) -> None:
    db = rendered.get("Deployment", "db")
    box = container(db)
    # healthcheck.sh logs in as its own user: a bare TCP probe makes MariaDB
    # log an "Aborted connection ... unauthenticated" warning each time.
    commands = {name: box[name]["exec"]["command"] for name in PROBES}
    assert commands == {
        "startupProbe": ["healthcheck.sh", "--connect", "--innodb_initialized"],
        "livenessProbe": ["healthcheck.sh", "--connect"],
        "readinessProbe": ["healthcheck.sh", "--connect", "--innodb_initialized"],
    }
    for name in PROBES:
        assert set(box[name]) - {"periodSeconds", "timeoutSeconds", "failureThreshold"} == {
            "exec"
        }, name
        # Starting bash and the mariadb client takes longer than the 1 s default.
        assert box[name]["timeoutSeconds"] >= 3, name
    startup = box["startupProbe"]
    # A slow first start initialises the data dir before it listens.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180


@pytest.mark.parametrize(("name", "uid"), [("balancer", 99), ("api", 10001), ("db", 999)])
def test_security_context(rendered: Rendered, name: str, uid: int) -> None:
    deployment = rendered.get("Deployment", name)
    pod = pod_spec(deployment)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(deployment)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["privileged"] is False
    assert context["runAsNonRoot"] is True
    # Both images run read-only: writable paths are emptyDirs and the claim.
    assert context["readOnlyRootFilesystem"] is True
    assert "hostPath" not in json.dumps(pod)


@pytest.mark.parametrize("name", ["balancer", "api", "db"])
def test_requests_and_limits(rendered: Rendered, name: str) -> None:
    resources = container(rendered.get("Deployment", name))["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}, bound


def test_recommended_labels_everywhere(rendered: Rendered) -> None:
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        where = f"{obj['kind']} {obj['metadata']['name']}"
        assert labels.items() >= RECOMMENDED.items(), where
        assert labels["app.kubernetes.io/component"] in {"balancer", "api", "db"}, where
    for deployment in rendered.workloads:
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert template_labels == deployment["metadata"]["labels"]
        assert (
            template_labels["app.kubernetes.io/component"]
            == component
            == deployment["metadata"]["name"]
        )
        assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()


def test_the_api_accepts_connections_from_the_balancer_only(rendered: Rendered) -> None:
    policy = rendered.get("NetworkPolicy", "api")
    api, balancer = rendered.get("Deployment", "api"), rendered.get("Deployment", "balancer")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert (
        policy["spec"]["podSelector"]["matchLabels"].items()
        <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    [rule] = policy["spec"]["ingress"]
    [peer] = rule["from"]
    assert (
        peer["podSelector"]["matchLabels"].items()
        <= balancer["spec"]["template"]["metadata"]["labels"].items()
    )
    assert [resolve_port(api, p["port"]) for p in rule["ports"]] == [8000]


def test_database_accepts_connections_from_the_api_only(rendered: Rendered) -> None:
    policy = rendered.get("NetworkPolicy", "db")
    db, api = rendered.get("Deployment", "db"), rendered.get("Deployment", "api")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert (
        policy["spec"]["podSelector"]["matchLabels"].items()
        <= db["spec"]["template"]["metadata"]["labels"].items()
    )
    [rule] = policy["spec"]["ingress"]
    [peer] = rule["from"]
    assert (
        peer["podSelector"]["matchLabels"].items()
        <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    assert [resolve_port(db, p["port"]) for p in rule["ports"]] == [3306]


def test_checkov_passes_with_each_skip_justified(rendered: Rendered, checkov: str) -> None:
    assert_checkov_passes(checkov, rendered)


def listed_files(kustomization_file: Path) -> set[Path]:
    """The files a kustomization (or Component) lists, those of the folders it
    lists included."""
    kustomization = yaml.safe_load(kustomization_file.read_text())
    folder = kustomization_file.parent
    listed: set[Path] = set()
    for entry in [*kustomization.get("resources", []), *kustomization.get("components", [])]:
        path = (folder / entry).resolve()
        listed |= (
            {path / "kustomization.yaml", *listed_files(path / "kustomization.yaml")}
            if path.is_dir()
            else {path}
        )
    patches = kustomization.get("patches", [])
    listed |= {(folder / patch["path"]).resolve() for patch in patches if "path" in patch}
    return listed


def test_kubectl_kustomize_is_what_apply_k_applies(rendered: Rendered, kubectl: str) -> None:
    # `kubectl apply -k` renders with the same built-in kustomize; the
    # kustomizations must list every manifest and patch, so nothing is left
    # unapplied.
    k8s = (rendered.path.parent / "k8s").resolve()
    top = k8s / "kustomization.yaml"
    on_disk = {p.resolve() for p in k8s.rglob("*.yaml")} - {top}
    # The opt-in database is a Component that an overlay adds (test_galera.py).
    galera = k8s / "components" / "galera" / "kustomization.yaml"
    assert listed_files(top) | {galera, *listed_files(galera)} == on_disk
    kustomization = yaml.safe_load(top.read_text())
    [generator] = kustomization["secretGenerator"]
    assert generator["envs"] == ["secret.env"], "users find the passwords in k8s/secret.env"
    version = run(kubectl, "version", "--client", "-o", "json")
    assert json.loads(version.stdout)["kustomizeVersion"]


def test_network_policies_are_a_component(rendered: Rendered) -> None:
    # An opt-in part (like the replicated database to come): a kustomize
    # Component that the top kustomization includes.
    k8s = rendered.path.parent / "k8s"
    component = yaml.safe_load(
        (k8s / "components" / "network-policies" / "kustomization.yaml").read_text()
    )
    assert component["kind"] == "Component"
    assert component["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"
    top = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    assert "components/network-policies" in top["components"]


def test_selectors_stay_what_running_clusters_have(rendered: Rendered) -> None:
    # A Deployment's selector is immutable: `kubectl apply` onto a cluster that
    # runs an older k8s/ fails if it changes. Name and component, exactly.
    for obj in rendered.objects:
        if obj["kind"] not in ("Deployment", "Service"):
            continue
        selector = obj["spec"]["selector"]
        selector = selector["matchLabels"] if obj["kind"] == "Deployment" else selector
        assert selector == {
            "app.kubernetes.io/component": obj["metadata"]["labels"]["app.kubernetes.io/component"],
            "app.kubernetes.io/name": "visit-counter",
        }, f"{obj['kind']} {obj['metadata']['name']}"
    assert "io.kompose" not in rendered.text, "kompose's own labels are left in"


@pytest.mark.parametrize(
    ("name", "port", "port_name"), [("api", 8000, "http"), ("db", 3306, "mysql")]
)
def test_ports_are_named_and_targeted_by_name(
    rendered: Rendered, name: str, port: int, port_name: str
) -> None:
    deployment = rendered.get("Deployment", name)
    assert container(deployment)["ports"] == [
        {"containerPort": port, "name": port_name, "protocol": "TCP"}
    ]
    for probe in PROBES:
        action = container(deployment)[probe]
        if "httpGet" in action:
            assert action["httpGet"]["port"] == port_name, probe
    [service_port] = rendered.get("Service", name)["spec"]["ports"]
    assert service_port["name"] == service_port["targetPort"] == port_name
    assert service_port["protocol"] == "TCP"


def test_every_object_says_why_it_has_no_namespace(rendered: Rendered) -> None:
    # The Secret and the components' objects too: k8s/patches/all.yaml
    # targets every object kustomize renders.
    for obj in rendered.objects:
        annotations = obj["metadata"].get("annotations", {})
        assert annotations.get("checkov.io/skip1", "").startswith("CKV_K8S_21="), obj["kind"]

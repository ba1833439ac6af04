"""`invoke k8s-gen`: reproduces the committed k8s/base/, keeps credentials out
of k8s/, and refuses bad input with one line and nothing written."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.k8s_gen import GENERATED_MARK, KOMPOSE_VERSION
from deploy.k8s_secret import SECRET_KEYS
from localservers.project import REPO_ROOT
from tests.utils.manifests import (
    committed_k8s_files,
    copy_committed_k8s,
    copy_compose,
    k8s_gen,
    snapshot,
)
from tests.utils.run import Completed, run


def compose_defaults(compose_text: str) -> dict[str, str]:
    """compose.yaml's ``${NAME:-default}`` defaults, as written in it."""
    return dict(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}", compose_text))


def generated_files(repo: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(repo / "k8s").items() if k != "secret.env"}


def repo_with_sources(tmp_path: Path) -> Path:
    """A temp repo with compose.yaml and the hand-written part of k8s/."""
    copy_compose(tmp_path)
    copy_committed_k8s(tmp_path / "k8s", generated=False)
    return tmp_path


def test_k8s_gen_reproduces_committed_k8s_byte_for_byte(generated: Path) -> None:
    committed = {name: (REPO_ROOT / "k8s" / name).read_bytes() for name in committed_k8s_files()}
    fresh = generated_files(generated)
    assert sorted(fresh) == sorted(committed), "k8s-gen makes other files than git tracks in k8s/"
    for name, content in fresh.items():
        assert content == committed[name], f"k8s/{name} drifted: run `invoke k8s-gen` and commit"


def test_k8s_gen_is_deterministic(generated: Path, kompose: str, tmp_path: Path) -> None:
    repo = repo_with_sources(tmp_path)
    assert k8s_gen(repo, kompose).returncode == 0
    assert generated_files(repo) == generated_files(generated)


def test_committed_base_has_only_generated_files_and_no_secret_env() -> None:
    names = committed_k8s_files()
    assert {"kustomization.yaml", "base/kustomization.yaml"} <= set(names)
    assert "secret.env" not in names
    generated = committed_k8s_files(generated=True)
    assert len(generated) > 5
    for name in names:
        text = (REPO_ROOT / "k8s" / name).read_text()
        if name in generated:
            assert text.startswith(GENERATED_MARK), f"k8s/{name} lacks the generated-file header"
            assert f"kompose {KOMPOSE_VERSION}" in text.splitlines()[0]
        else:
            # Hand-written: k8s-gen never writes or removes it.
            assert GENERATED_MARK not in text, f"k8s/{name} is hand-written, outside base/"
    assert run("git", "check-ignore", "--quiet", "k8s/secret.env", check=False).returncode == 0


def test_no_credential_value_in_committed_k8s() -> None:
    defaults = compose_defaults((REPO_ROOT / "compose.yaml").read_text())
    example = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    credentials = {defaults[k] for k in SECRET_KEYS} | {example[k] for k in SECRET_KEYS}
    assert all(credentials), credentials
    for name in committed_k8s_files():
        text = (REPO_ROOT / "k8s" / name).read_text()
        for value in credentials:
            assert value not in text, f"a credential value appears in k8s/{name}"


def test_secret_env_from_dev_defaults_is_private(generated: Path) -> None:
    defaults = compose_defaults((generated / "compose.yaml").read_text())
    secret_env = generated / "k8s" / "secret.env"
    assert secret_env.read_text() == "".join(f"{k}={defaults[k]}\n" for k in SECRET_KEYS)
    assert stat.S_IMODE(secret_env.stat().st_mode) == 0o600


def test_env_file_sets_secret_but_not_manifests(
    generated: Path, kompose: str, tmp_path: Path
) -> None:
    repo_with_sources(tmp_path)
    # Every key of .env.example, changed: the committed manifests must not
    # follow a developer's .env (kompose would interpolate it), only secret.env.
    (tmp_path / ".env").write_text(
        "# a comment\n"
        "DB_NAME=other_db\nDB_USER=other_user\nWEB_CONCURRENCY=7\n"
        'DB_PASSWORD=\'s3cret #1\'\nexport DB_ROOT_PASSWORD="r00t=\\"x\\""\n'
    )
    result = k8s_gen(tmp_path, kompose)
    assert result.returncode == 0, result.stderr
    assert generated_files(tmp_path) == generated_files(generated)
    assert (tmp_path / "k8s" / "secret.env").read_text() == (
        'DB_PASSWORD=s3cret #1\nDB_ROOT_PASSWORD=r00t="x"\n'
    )


def generate_from(
    edits: tuple[tuple[str, str], ...], kompose: str, tmp_path: Path
) -> dict[str, Any]:
    """k8s-gen on compose.yaml with each (old, new) text replaced once: file
    name -> object of k8s/base/."""
    compose = (REPO_ROOT / "compose.yaml").read_text()
    for old, new in edits:
        assert compose.count(old) == 1, old
        compose = compose.replace(old, new)
    repo_with_sources(tmp_path)
    (tmp_path / "compose.yaml").write_text(compose)
    result = k8s_gen(tmp_path, kompose)
    assert result.returncode == 0, result.stderr
    base = tmp_path / "k8s" / "base"
    return {path.name: yaml.safe_load(path.read_text()) for path in base.glob("*.yaml")}


def pod(objects: dict[str, Any], name: str) -> Any:
    return objects[f"{name}-deployment.yaml"]["spec"]["template"]["spec"]


def test_readiness_and_grace_period_are_written_once_in_compose_yaml(
    kompose: str, tmp_path: Path
) -> None:
    # The generator keeps what compose.yaml's readiness labels and
    # stop_grace_period say (through kompose) instead of writing its own.
    edits = (
        # (the API's lines: the balancer has readiness labels of its own)
        (
            '/healthz\n      kompose.service.healthcheck.readiness.http_get_port: "8000"',
            '/other\n      kompose.service.healthcheck.readiness.http_get_port: "8000"',
        ),
        (
            '3s\n      kompose.service.healthcheck.readiness.retries: "2"\n',
            '3s\n      kompose.service.healthcheck.readiness.retries: "4"\n',
        ),
        ("stop_grace_period: 50s\n", "stop_grace_period: 1m\n"),
    )
    api = pod(generate_from(edits, kompose, tmp_path), "api")
    readiness = api["containers"][0]["readinessProbe"]
    assert readiness["httpGet"] == {"path": "/other", "port": "http"}
    assert readiness["failureThreshold"] == 4
    assert api["terminationGracePeriodSeconds"] == 60


def test_node_port_resources_rollout_and_db_readiness_are_written_once_in_compose_yaml(
    kompose: str, tmp_path: Path
) -> None:
    # Each of these is said once, in compose.yaml; no patch overrides it.
    edits = (
        ('nodeport.port: "30001"', 'nodeport.port: "30099"'),
        ("memory: 192M", "memory: 320M"),
        ("memory: 512M", "memory: 1G"),
        ("parallelism: 1", "parallelism: 2"),
        ('readiness.retries: "3"', 'readiness.retries: "7"'),
        ("kompose.volume.size: 1Gi", "kompose.volume.size: 5Gi"),
    )
    objects = generate_from(edits, kompose, tmp_path)
    [port] = objects["balancer-service.yaml"]["spec"]["ports"]
    assert port["nodePort"] == 30099
    assert pod(objects, "api")["containers"][0]["resources"]["limits"]["memory"] == "320Mi"
    assert pod(objects, "db")["containers"][0]["resources"]["limits"]["memory"] == "1Gi"
    strategy = objects["api-deployment.yaml"]["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0},
    }
    assert pod(objects, "db")["containers"][0]["readinessProbe"]["failureThreshold"] == 7
    claim = objects["db-data-persistentvolumeclaim.yaml"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_secret_env_format_is_documented_key_value_lines() -> None:
    # The VM's shell provisioning may write secret.env itself: the format is
    # KEY=VALUE lines of exactly these keys, and the module says so.
    import deploy.k8s_secret as module

    assert SECRET_KEYS == ("DB_PASSWORD", "DB_ROOT_PASSWORD")
    assert module.__doc__ is not None
    assert "KEY=VALUE" in module.__doc__


# --- bad input: one line, nothing written ----------------------------------------


@pytest.fixture
def repo_with_k8s(tmp_path: Path) -> Path:
    """A temp repo whose k8s/ already holds the committed files and a secret.env."""
    copy_compose(tmp_path)
    copy_committed_k8s(tmp_path / "k8s")
    (tmp_path / "k8s" / "secret.env").write_text("DB_PASSWORD=old\nDB_ROOT_PASSWORD=old-root\n")
    return tmp_path


def assert_refused(result: Completed, before: dict[str, bytes], repo: Path, *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line of error, got:\n{result.stderr}"
    assert lines[0].startswith("k8s-gen: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert snapshot(repo / "k8s") == before, "k8s/ changed although k8s-gen failed"


def test_compose_file_kompose_rejects(repo_with_k8s: Path, kompose: str) -> None:
    compose = repo_with_k8s / "compose.yaml"
    compose.write_text(
        compose.read_text().replace(
            "    image: mariadb:11.8\n", "    image: mariadb:11.8\n    bogus_key: 1\n"
        )
    )
    before = snapshot(repo_with_k8s / "k8s")
    result = k8s_gen(repo_with_k8s, kompose)
    assert_refused(result, before, repo_with_k8s, "kompose rejected compose.yaml", "bogus_key")


def test_compose_file_without_the_db_service(repo_with_k8s: Path, kompose: str) -> None:
    (repo_with_k8s / "compose.yaml").write_text(
        "services:\n  api:\n    image: visit-counter-api:dev\n    environment:\n"
        "      DB_PASSWORD: ${DB_PASSWORD:-x}\n      DB_ROOT_PASSWORD: ${DB_ROOT_PASSWORD:-y}\n"
    )
    before = snapshot(repo_with_k8s / "k8s")
    assert_refused(k8s_gen(repo_with_k8s, kompose), before, repo_with_k8s, "kompose made no")


@pytest.mark.parametrize(
    ("dropped", "needle"),
    [
        # No readiness label at all: kompose makes no readiness probe.
        (r"kompose\.service\.healthcheck\.readiness\.", "no readiness probe for api"),
        # A port without a path: kompose panics, and its panic line is shown.
        (r"kompose\.service\.healthcheck\.readiness\.http_get_path", "must contain a command"),
        # No stop_grace_period: no grace period set in one place for the preStop.
        (r"stop_grace_period:", "stop_grace_period"),
    ],
)
def test_compose_file_without_what_the_api_pods_need(
    repo_with_k8s: Path, kompose: str, dropped: str, needle: str
) -> None:
    compose = repo_with_k8s / "compose.yaml"
    lines = compose.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not re.match(rf"\s*{dropped}", line)]
    assert len(kept) < len(lines), dropped
    compose.write_text("".join(kept))
    before = snapshot(repo_with_k8s / "k8s")
    assert_refused(k8s_gen(repo_with_k8s, kompose), before, repo_with_k8s, needle)


@pytest.mark.parametrize("missing_key", SECRET_KEYS)
def test_env_file_missing_a_key_gives_composes_default(
    repo_with_k8s: Path, kompose: str, missing_key: str
) -> None:
    # What Compose hands the container: compose.yaml's default for a key .env
    # lacks, or sets empty (`${VAR:-default}`).
    (repo_with_k8s / ".env").write_text(
        "".join(f"{k}={'' if k == missing_key else 'value-' + k}\n" for k in SECRET_KEYS)
    )
    assert k8s_gen(repo_with_k8s, kompose).returncode == 0
    defaults = compose_defaults((repo_with_k8s / "compose.yaml").read_text())
    expected = {k: defaults[k] if k == missing_key else f"value-{k}" for k in SECRET_KEYS}
    secret_env = (repo_with_k8s / "k8s" / "secret.env").read_text()
    assert secret_env == "".join(f"{k}={v}\n" for k, v in expected.items())


def test_env_file_compose_cannot_read(repo_with_k8s: Path, kompose: str) -> None:
    (repo_with_k8s / ".env").write_text("DB_PASSWORD='unterminated\n")
    before = snapshot(repo_with_k8s / "k8s")
    result = k8s_gen(repo_with_k8s, kompose)
    assert_refused(result, before, repo_with_k8s, "`docker compose config` failed")


def test_wrong_kompose_version(repo_with_k8s: Path, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "kompose"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '1.37.0 (deadbeef)'\n")
    fake.chmod(0o755)
    before = snapshot(repo_with_k8s / "k8s")
    result = k8s_gen(repo_with_k8s, str(fake))
    assert_refused(
        result, before, repo_with_k8s, "1.37.0", KOMPOSE_VERSION, "sudo bash ci/install-kompose.sh"
    )


def test_kubectl_missing(repo_with_k8s: Path, kompose: str) -> None:
    # k8s-gen renders the result with kubectl's kustomize before writing it.
    before = snapshot(repo_with_k8s / "k8s")
    result = k8s_gen(repo_with_k8s, kompose, "--kubectl", "kubectl-not-installed-here")
    assert_refused(
        result,
        before,
        repo_with_k8s,
        "kubectl-not-installed-here is not installed",
        "requirements-dev.txt",
    )


def test_a_patch_kustomize_cannot_apply(repo_with_k8s: Path, kompose: str) -> None:
    patch = repo_with_k8s / "k8s" / "patches" / "balancer-deployment.yaml"
    broken = patch.read_text().replace("replicas: 3", "replicas: [3")
    assert broken != patch.read_text()
    patch.write_text(broken)
    before = snapshot(repo_with_k8s / "k8s")
    result = k8s_gen(repo_with_k8s, kompose)
    assert_refused(result, before, repo_with_k8s, "`kubectl kustomize k8s/` fails")


def test_kompose_missing(repo_with_k8s: Path) -> None:
    before = snapshot(repo_with_k8s / "k8s")
    result = k8s_gen(repo_with_k8s, "kompose-not-installed-here")
    assert_refused(
        result,
        before,
        repo_with_k8s,
        "kompose-not-installed-here is not installed",
        "sudo bash ci/install-kompose.sh",
    )


def test_k8s_gen_removes_stale_generated_files_only(repo_with_k8s: Path, kompose: str) -> None:
    k8s = repo_with_k8s / "k8s"
    (k8s / "base" / "old-service.yaml").write_text(GENERATED_MARK + " from an older compose.yaml\n")
    (k8s / "base" / "my-overlay-note.yaml").write_text("# mine\n")
    result = k8s_gen(repo_with_k8s, kompose)
    assert result.returncode == 0, result.stderr
    assert not (k8s / "base" / "old-service.yaml").exists()
    assert (k8s / "base" / "my-overlay-note.yaml").exists()
    for folder in (k8s, k8s / "base"):
        assert not [p for p in os.listdir(folder) if p.startswith(".")], "temp files left behind"
    assert re.fullmatch(r"DB_PASSWORD=.+\nDB_ROOT_PASSWORD=.+\n", (k8s / "secret.env").read_text())

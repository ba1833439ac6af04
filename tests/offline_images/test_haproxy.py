"""The haproxy:3.0 stand-in (ci/offline-images/haproxy/) keeps the official
image's contract as compose.yaml's ``balancer`` uses it: the config read from
/usr/local/etc/haproxy/haproxy.cfg, haproxy as PID 1 in master-worker mode in
the foreground, as the unprivileged ``haproxy`` user (99:99), in a locked-down
container (read-only, no capabilities); ``docker stop`` (SIGUSR1) ends it
cleanly; ``haproxy -c`` checks a config; options as the command go to
haproxy."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.utils.docker import Docker

IMAGE = "haproxy:3.0"
CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
PORT = 8080
UID = GID = "99"
# How compose.yaml runs the balancer: --user left as the image sets it.
LOCKED_DOWN = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true")

CONFIG = f"""\
global
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend web
    bind :{PORT}
    http-request return status 200 content-type text/plain string ok
"""
# An unknown action, on the line after CONFIG's last.
BAD_LINE = CONFIG.count("\n") + 1
BAD_CONFIG = CONFIG + "    http-request no-such-action\n"

# Straight to the container: no proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Balancer:
    container: str
    url: str


@dataclass
class Reply:
    status: int
    content_type: str
    body: str


def config_file(directory: Path, text: str) -> Path:
    """A config file the container's haproxy user (not the file's owner) can read."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "haproxy.cfg"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return path


def get(url: str) -> Reply:
    with OPENER.open(url, timeout=5) as response:
        return Reply(
            response.status, response.headers.get("Content-Type", ""), response.read().decode()
        )


def start_balancer(docker: Docker, config: Path) -> Balancer:
    """The image's default command with CONFIG mounted read-only at the official
    path, on a published 127.0.0.1 port; returns once it answers."""
    container = docker.start(
        IMAGE, *LOCKED_DOWN,
        "-p", f"127.0.0.1::{PORT}",
        "-v", f"{config}:{CONFIG_PATH}:ro",
    )  # fmt: skip
    address = docker.run("port", container, f"{PORT}/tcp").stdout.split()[0]
    url = f"http://{address}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            get(url)
            return Balancer(container, url)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            if not docker.state(container).get("Running"):
                raise AssertionError(f"{container} stopped:\n{docker.logs(container)}") from error
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{container} does not answer on {url}:\n{docker.logs(container)}"
                ) from error
        time.sleep(0.3)


@pytest.fixture(scope="module")
def balancer(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Balancer:
    return start_balancer(docker, config_file(tmp_path_factory.mktemp("offline-haproxy"), CONFIG))


def test_default_command_serves_the_config_at_the_official_path(balancer: Balancer) -> None:
    reply = get(balancer.url)
    assert reply.status == 200
    assert reply.content_type.startswith("text/plain")
    assert reply.body == "ok"


def test_requests_are_logged_on_stdout(docker: Docker, balancer: Balancer) -> None:
    get(balancer.url + "logged-probe")
    deadline = time.monotonic() + 10
    while '"GET /logged-probe HTTP/1.1"' not in (
        stdout := docker.run("logs", balancer.container).stdout
    ):
        assert time.monotonic() < deadline, f"no log line for the request on stdout:\n{stdout}"
        time.sleep(0.3)


def test_haproxy_is_pid_1_in_master_worker_mode_as_user_99(
    docker: Docker, balancer: Balancer
) -> None:
    cmdline = docker.run("exec", balancer.container, "cat", "/proc/1/cmdline").stdout
    assert cmdline.rstrip("\0").split("\0") == ["haproxy", "-W", "-db", "-f", CONFIG_PATH]
    status = docker.run("exec", balancer.container, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["Uid"].split() == [UID] * 4
    assert fields["Gid"].split() == [GID] * 4
    # Its working directory is the image's, the haproxy user's own.
    cwd = docker.run("exec", balancer.container, "readlink", "/proc/1/cwd").stdout.strip()
    assert cwd == "/var/lib/haproxy"
    owner = docker.run("exec", balancer.container, "stat", "-c", "%u:%g", cwd).stdout.strip()
    assert owner == f"{UID}:{GID}"


def test_docker_stop_ends_it_cleanly_and_quickly(docker: Docker, tmp_path: Path) -> None:
    # Its own container: the shared one stays up for the other tests.
    own = start_balancer(docker, config_file(tmp_path, CONFIG))
    config = docker.inspect(own.container)["Config"]
    assert isinstance(config, dict)
    assert config["StopSignal"] == "SIGUSR1"
    started = time.monotonic()
    docker.run("stop", "-t", "30", own.container)
    elapsed = time.monotonic() - started
    state = docker.state(own.container)
    assert state["ExitCode"] == 0, docker.logs(own.container)
    assert elapsed < 10, f"docker stop took {elapsed:.1f}s"


def test_config_check_names_the_line_of_an_error(docker: Docker, tmp_path: Path) -> None:
    def check(text: str, name: str) -> tuple[int, str]:
        config = config_file(tmp_path / name, text)
        result = docker.run(
            "run", "--rm", *LOCKED_DOWN, "-v", f"{config}:{CONFIG_PATH}:ro",
            IMAGE, "haproxy", "-c", "-f", CONFIG_PATH,
            check=False,
        )  # fmt: skip
        return result.returncode, result.stdout + result.stderr

    returncode, output = check(CONFIG, "good")
    assert returncode == 0, output
    returncode, output = check(BAD_CONFIG, "bad")
    assert returncode != 0
    located = [line for line in output.splitlines() if f"{CONFIG_PATH}:{BAD_LINE}]" in line]
    assert any("no-such-action" in line for line in located), output


def test_options_as_the_command_go_to_haproxy(docker: Docker) -> None:
    result = docker.run("run", "--rm", IMAGE, "-v", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("HAProxy version 3.0.")


def test_other_commands_run_as_given_as_the_haproxy_user(docker: Docker) -> None:
    result = docker.run("run", "--rm", IMAGE, "id", "-u", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == UID

"""The stack tier's Compose project: its commands, its containers, its URL."""

from __future__ import annotations

import json
from dataclasses import dataclass

from deploy.api_client import Answer, request
from tests.utils.run import run

PROJECT = "visit-counter-stacktest"
API_URL = "http://localhost:8000"
IMAGE = "visit-counter-api:dev"


@dataclass
class Stack:
    project: str

    def compose(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return run(
            "docker", "compose", "-p", self.project, *args, check=check, timeout=timeout
        ).stdout

    def up(self, *extra: str) -> None:
        self.compose("up", "--detach", "--wait", "--wait-timeout", "180", *extra)

    def container_ids(self, service: str) -> list[str]:
        return self.compose("ps", "--quiet", service).split()

    def inspect(self, container: str) -> dict[str, object]:
        document: list[dict[str, object]] = json.loads(run("docker", "inspect", container).stdout)
        return document[0]

    def exec_get(self, service: str, path: str, index: int = 1) -> str:
        """GET from inside a container, reaching that one replica directly."""
        script = get_script(path, timeout=10)
        return self.compose("exec", "--index", str(index), service, "python", "-c", script)


def get_script(path: str, timeout: float) -> str:
    """Python that GETs ``path`` on port 8000 inside a container and prints the body."""
    return (
        "import urllib.request, sys;"
        f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:8000{path}',"
        f" timeout={timeout:g}).read().decode())"
    )


def get(path: str = "/", accept: str | None = None) -> Answer:
    return request(f"{API_URL}{path}", accept=accept)


class CookieClient:
    """One browser session, as far as the balancer can tell: it keeps the
    cookies it is given and sends them back, each request on a new
    connection (so only the cookie can make it stick)."""

    def __init__(self, url: str = API_URL) -> None:
        self.url = url.rstrip("/")
        self.cookies: dict[str, str] = {}

    def get(self, path: str = "/") -> Answer:
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        answer = request(
            f"{self.url}{path}", accept="application/json", headers=sent if self.cookies else {}
        )
        if set_cookie := answer.headers.get("set-cookie"):
            name, _, rest = set_cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return answer


def replica_of(answer: Answer) -> str:
    """The replica that answered a JSON ``GET /``."""
    name: str = answer.json()["replica"]
    return name


def total_visits(url: str = API_URL) -> int:
    """Every replica's visits together, read from ``url`` without counting one."""
    total: int = request(f"{url}/visits").json()["total"]
    return total

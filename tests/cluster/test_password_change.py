"""A changed password never takes the service down.

MariaDB applies the passwords only when it initialises an empty volume, so a
new password in k8s/secret.env would roll API pods that the running database
refuses. ``k8s-deploy`` checks the new credentials against the running
database first and refuses, with one line, before it changes anything.
"""

from __future__ import annotations

import pytest

from deploy.api_client import request
from deploy.commands import DeployError
from localservers.project import REPO_ROOT
from tests.utils.cluster import NAMESPACE, URL, Cluster, Deployed, deploy

SECRET_ENV = REPO_ROOT / "k8s" / "secret.env"


def secrets_in_cluster(cluster: Cluster) -> dict[str, object]:
    items = cluster.json("get", "secrets", "-n", NAMESPACE)["items"]
    return {s["metadata"]["name"]: s["data"] for s in items}


def test_a_password_the_database_refuses_is_refused_and_nothing_changes(
    cluster: Cluster, deployed: Deployed
) -> None:
    original = SECRET_ENV.read_text()
    secrets_before = secrets_in_cluster(cluster)
    pods_before = {pod["metadata"]["name"] for pod in cluster.api_pods()}
    lines = [
        "DB_PASSWORD=a-new-password-nobody-set" if line.startswith("DB_PASSWORD=") else line
        for line in original.splitlines()
    ]
    SECRET_ENV.write_text("\n".join(lines) + "\n")
    try:
        with pytest.raises(DeployError) as refused:
            deploy(cluster)
    finally:
        SECRET_ENV.write_text(original)

    message = str(refused.value)
    assert "\n" not in message
    assert "password" in message
    assert "a-new-password-nobody-set" not in message
    assert secrets_in_cluster(cluster) == secrets_before
    assert {pod["metadata"]["name"] for pod in cluster.api_pods()} == pods_before
    assert request(URL).status == 200

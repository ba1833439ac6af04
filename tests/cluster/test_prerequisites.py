"""A missing prerequisite stops cluster-up with one line saying what to do.

These need no cluster: they run the scripts with the prerequisite taken away.
"""

from __future__ import annotations

from pathlib import Path

from tests.utils.run import run


def one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, stderr
    return errors[0]


def test_no_docker_engine_is_one_line() -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = run("bash", "cluster/up.sh", check=False, env=env, timeout=60)
    assert result.returncode != 0
    line = one_error_line(result.stderr)
    assert "Docker Engine is not answering" in line
    assert "start it" in line


def test_no_go_toolchain_is_one_line(tmp_path: Path) -> None:
    # An empty cache, so there is something to build, and no go anywhere.
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "VC_CLUSTER_CACHE": str(tmp_path),
        "VC_GO_FALLBACK_DIR": str(tmp_path),
    }
    result = run("bash", "cluster/build.sh", check=False, env=env, timeout=60)
    assert result.returncode != 0
    line = one_error_line(result.stderr)
    assert "no Go toolchain" in line
    assert "install Go" in line


def test_a_bad_argument_or_setting_is_one_line() -> None:
    unknown = run("bash", "cluster/up.sh", "--keep", check=False, timeout=60)
    assert unknown.returncode != 0
    assert "unknown argument '--keep'" in one_error_line(unknown.stderr)
    env = {"VC_CLUSTER_READY_TIMEOUT": "soon"}
    bad = run("bash", "cluster/up.sh", check=False, env=env, timeout=60)
    assert bad.returncode != 0
    assert "VC_CLUSTER_READY_TIMEOUT must be a whole number" in one_error_line(bad.stderr)


def test_a_bad_node_count_or_subnet_is_one_line() -> None:
    for count in ("0", "6", "three"):
        bad = run("bash", "cluster/up.sh", "--nodes", count, check=False, timeout=60)
        assert bad.returncode != 0
        assert f"--nodes must be a whole number from 1 to 5, not '{count}'" in one_error_line(
            bad.stderr
        )
    for subnet in ("8.8.8.0/24", "172.200.0.0/24", "192.0.2.0/24", "172.29.0.0/16"):
        env = {"VC_CLUSTER_SUBNET": subnet}
        bad = run("bash", "cluster/up.sh", check=False, env=env, timeout=60)
        assert bad.returncode != 0
        assert "VC_CLUSTER_SUBNET must be a private /24" in one_error_line(bad.stderr)

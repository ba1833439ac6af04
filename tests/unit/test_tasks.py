"""tasks.py: the tiers, one per folder under tests/ as pyproject.toml declares
them; and the deploy tasks through invoke (tasks.py only passes options on to
deploy/): their options and help come from the modules' tables, and their
command sequences, through --dry-run, are what a real run executes, while a
dry run executes nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import tasks
from deploy import drill, k8s_deploy, k8s_gen, vagrant
from deploy.options import Option
from localservers.project import REPO_ROOT
from tests.utils.run import Completed, run
from tests.utils.scripted import make_tripwire, nothing_ran, printed

INVOKE = [sys.executable, "-m", "invoke"]
TESTS = Path(__file__).resolve().parent.parent


def test_every_tier_is_a_folder_and_every_folder_a_tier() -> None:
    folders = {p.parent.name for p in TESTS.glob("*/__init__.py")} - {"utils"}
    assert set(tasks.TIERS) == folders
    assert {"unit", "integration", "packaging", "offline_images"} <= set(tasks.TIERS)


def test_each_tier_says_what_it_needs() -> None:
    assert all(needs.strip() for needs in tasks.declared_tiers().values())


def invoke(*args: str, path_dir: Path | None = None) -> Completed:
    # A PATH where `vagrant` would leave a trace if anything ran it.
    env = {} if path_dir is None else {"PATH": f"{path_dir}{os.pathsep}{os.environ['PATH']}"}
    return run(*INVOKE, *args, check=False, env=env, timeout=60)


# The host writes k8s/secret.env for the VM when it is missing; a dry run
# shows how.
def secret_env_steps() -> list[str]:
    """The steps a dry run shows for k8s/secret.env: read when the test runs,
    since an earlier tier (the cluster's deploy) may have written the file."""
    return (
        []
        if (REPO_ROOT / "k8s" / "secret.env").exists()
        else [
            "docker compose --file compose.yaml config --format json",
            "write k8s/secret.env from its DB_PASSWORD and DB_ROOT_PASSWORD (mode 0600)",
        ]
    )


@pytest.fixture
def tripwire(tmp_path: Path) -> Path:
    return make_tripwire(tmp_path)


def commands(stdout: str) -> list[str]:
    """The commands a task printed, after invoke's own echo of the module it
    runs (tasks.py stays thin: the logic is in deploy/)."""
    lines = printed(stdout)
    assert lines, stdout
    assert lines[0].startswith(f"{sys.executable} -m deploy."), lines[0]
    return lines[1:]


def test_deploy_on_a_running_vm_syncs_then_provisions(tripwire: Path) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--state", "running", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        *secret_env_steps(),
        "vagrant rsync",
        "vagrant provision",
        "vagrant ssh --no-tty -c 'sudo cat /etc/rancher/k3s/k3s.yaml'",
        "write .vagrant/kubeconfig (server https://127.0.0.1:26443, mode 0600)",
        "GET http://localhost:8000/ until 3 distinct replicas answer (up to 180s)",
    ]
    assert nothing_ran(tripwire)


@pytest.mark.parametrize("state", ["not_created", "poweroff", "aborted", "shutoff"])
def test_deploy_on_a_vm_that_is_not_running_brings_it_up(tripwire: Path, state: str) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--state", state, path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout)[len(secret_env_steps())] == "vagrant up"
    assert len(commands(result.stdout)) == 4 + len(secret_env_steps())
    assert nothing_ran(tripwire)


def test_deploy_without_a_state_shows_the_status_query_too(tripwire: Path) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--timeout", "42", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        "vagrant status --machine-readable",
        *secret_env_steps(),
        "vagrant up",
        "vagrant ssh --no-tty -c 'sudo cat /etc/rancher/k3s/k3s.yaml'",
        "write .vagrant/kubeconfig (server https://127.0.0.1:26443, mode 0600)",
        "GET http://localhost:8000/ until 3 distinct replicas answer (up to 42s)",
    ]
    assert "the VM's state is unknown; --state running previews the other path" in result.stdout
    assert nothing_ran(tripwire)


def test_destroy(tripwire: Path) -> None:
    result = invoke("vagrant-destroy", "--dry-run", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == ["vagrant destroy --force"]
    assert nothing_ran(tripwire)


def test_drill_runs_the_drills_with_the_vms_kubeconfig(tripwire: Path) -> None:
    result = invoke(
        "vagrant-drill", "--dry-run", "--drill", "pod-delete", path_dir=tripwire / "bin"
    )
    assert result.returncode == 0, result.stderr
    api = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
    k = "kubectl --kubeconfig .vagrant/kubeconfig"
    assert commands(result.stdout) == [
        f"{k} get deployments --all-namespaces --selector "
        f"{api} --no-headers --output custom-columns=NAMESPACE:.metadata.namespace",
        "GET http://localhost:8000/visits: the counts before",
        "poll GET http://localhost:8000/ every 50 ms (new connection each) until the drill ends",
        "GET http://localhost:8000/: which replica answers",
        f"{k} get pods --selector {api} --no-headers "
        "--output custom-columns=NAME:.metadata.name --namespace default",
        f"{k} delete pod '<replica-that-answered>' --namespace default",
        f"{k} rollout status deployment/api --timeout=180s --namespace default",
        f"{k} get pods --selector {api} --output=wide --namespace default",
        "GET http://localhost:8000/ until 3 distinct replicas answer again",
    ]
    assert result.stdout.splitlines()[-1] == "pod-delete: dry run"
    assert nothing_ran(tripwire)


def test_drill_runs_every_drill_by_default(tripwire: Path) -> None:
    result = invoke("vagrant-drill", "--dry-run", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    drills = [line for line in result.stdout.splitlines() if line.startswith("== drill ")]
    assert drills == [
        "== drill pod-delete",
        "== drill rollout",
        "== drill balancer-delete",
        "== drill db-outage",
        "== drill db-restart",
    ]
    assert nothing_ran(tripwire)


def test_a_failing_command_stops_the_task_with_its_name(tripwire: Path) -> None:
    # Not a dry run: the tripwire `vagrant` fails, and the task says which
    # command did.
    result = invoke("vagrant-destroy", path_dir=tripwire / "bin")
    assert result.returncode == 1
    assert "vagrant-destroy: `vagrant destroy --force` failed (exit status 1)" in result.stderr
    assert (tripwire / "vagrant-calls").read_text() == "destroy --force\n"


def test_k8s_deploy_and_k8s_drill_dry_runs_run_nothing(tripwire: Path) -> None:
    deploy = invoke("k8s-deploy", "--dry-run", "--kubeconfig", "kc", path_dir=tripwire / "bin")
    assert deploy.returncode == 0, deploy.stderr
    assert "kubectl --kubeconfig kc apply -k k8s/ --namespace default" in commands(deploy.stdout)
    drill = invoke("k8s-drill", "--dry-run", "--drill", "db-outage", path_dir=tripwire / "bin")
    assert drill.returncode == 0, drill.stderr
    assert "kubectl scale deployment/db --replicas=0 --namespace default" in commands(drill.stdout)
    assert nothing_ran(tripwire)


def test_an_unknown_drill_stops_k8s_drill_with_one_line(tripwire: Path) -> None:
    result = invoke(
        "k8s-drill", "--dry-run", "--drill", "pod-delete,reboot", path_dir=tripwire / "bin"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "k8s-drill: unknown drill(s) reboot: choose from pod-delete, rollout, balancer-delete, "
        "db-outage, db-restart"
    ]


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("k8s-gen", k8s_gen.OPTIONS),
        ("k8s-deploy", k8s_deploy.OPTIONS),
        ("k8s-drill", drill.OPTIONS),
        ("vagrant-deploy", vagrant.OPTIONS["deploy"]),
        ("vagrant-destroy", vagrant.OPTIONS["destroy"]),
        ("vagrant-drill", vagrant.OPTIONS["drill"]),
    ],
)
def test_each_tasks_options_are_its_modules(name: str, declared: tuple[Option, ...]) -> None:
    # Declared once, in deploy/: invoke's help shows every option with the
    # module's own help text (invoke wraps it; compare the words).
    result = invoke("--help", name)
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())
    for option in declared:
        flag = "--[no-]" + option.flag[2:] if option.default is True else option.flag
        assert flag in words, flag
        assert " ".join(option.help.split()) in words.replace("- ", "-"), option.help


def test_a_task_passes_only_the_options_given_on() -> None:
    result = invoke("k8s-deploy", "--dry-run", "--no-build", "--timeout", "60", "--loader", "none")
    assert result.returncode == 0, result.stderr
    assert printed(result.stdout)[0] == (
        f"{sys.executable} -m deploy.k8s_deploy --loader none --no-build --timeout 60 --dry-run"
    )
    assert "--timeout=60s" in result.stdout

"""Deployment tooling: the logic behind tasks.py's Kubernetes and VM tasks.

``k8s_gen`` (``invoke k8s-gen``, with ``k8s_base``) makes ``k8s/base/`` from
compose.yaml; ``k8s_secret`` writes the passwords and checks them against the
database; ``k8s_deploy`` (with ``image_loader``) deploys to any cluster;
``drill`` runs the drills under ``poller``'s client; ``vagrant`` drives the VM.
Shared: ``options``, ``commands`` (tools, steps, errors) and ``api_client``.

Everything but ``k8s_gen`` and ``k8s_base`` uses only the standard library, so
the VM's provisioning runs it with the system ``python3``, without the venv.
"""

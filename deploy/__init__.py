"""Deployment tooling: the logic behind tasks.py's Kubernetes and VM tasks.

- ``deploy.k8s_gen``: ``invoke k8s-gen``, compose.yaml -> kompose -> patches -> ``k8s/``.
- ``deploy.k8s_secret``: the database passwords for the Kubernetes Secret, written
  to the gitignored ``k8s/secret.env`` (standard library only, so a VM's
  provisioning can run ``python3 -m deploy.k8s_secret`` without the dev venv).
"""

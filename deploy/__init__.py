"""Deployment tooling: the logic behind tasks.py's Kubernetes and VM tasks.

- ``k8s_gen`` (``invoke k8s-gen``): compose.yaml -> kompose -> ``k8s/base/``,
  with ``k8s_base`` doing only what kustomize cannot, and ``k8s_secret``
  writing the gitignored ``k8s/secret.env``.
- ``k8s_deploy`` (``invoke k8s-deploy``): the one deploy path for every
  cluster, with ``image_loader`` and ``k8s_secret``'s password check.
- ``drill`` (``invoke k8s-drill``): the drills under ``poller``'s polling
  client, which also judges what it saw; ``vagrant``: ``invoke vagrant-*``.
- Shared: ``options`` (each task's options, declared once), ``commands`` (tools
  found, every step printed then run, or only printed in a dry run; errors in
  one line) and ``api_client`` (the one HTTP client, the tests' too).

Everything but ``k8s_gen`` and its helpers uses only the standard library, so the VM's
provisioning runs it with the system ``python3``, without the dev venv.
"""

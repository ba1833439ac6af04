"""Deployment tooling: the logic behind tasks.py's Kubernetes and VM tasks.

- ``deploy.k8s_gen``: ``invoke k8s-gen``, compose.yaml -> kompose -> ``k8s/base/``,
  with ``deploy.kompose`` (running the pinned kompose) and ``deploy.k8s_base``
  (only what kustomize cannot do to kompose's objects); kustomize applies
  ``k8s/kustomization.yaml``'s patches and components.
- ``deploy.k8s_secret``: the database passwords for the Kubernetes Secret, as
  ``docker compose config`` resolves them, written to the gitignored ``k8s/secret.env``.
- ``deploy.k8s_deploy``: ``invoke k8s-deploy``, the one deploy path for every
  cluster (the local one, kind, k3d, minikube, the VM's k3s), with
  ``deploy.image_loader`` (images into a cluster without a registry) and
  ``deploy.db_credentials`` (does the running database accept the passwords?).
- ``deploy.drill``: ``invoke k8s-drill`` and ``vagrant-drill``, the drills under
  ``deploy.poller``'s 50 ms polling client, judged in a ``deploy.drill_report``.
- ``deploy.vagrant``: ``invoke vagrant-*``.
- Shared by the above: ``deploy.options`` (each task's options, declared once
  for argparse and invoke), ``deploy.commands`` (the runner: every step
  printed, then run by its executor, or only printed in a dry run),
  ``deploy.api_client`` (the HTTP client, the API seen from outside; the tests
  use it too), ``deploy.errors`` (the one error type and how a ``main()``
  ends) and ``deploy.tools`` (finding an executable, for the tests and the
  local servers too).

Everything but ``k8s_gen`` and its helpers uses only the standard library, so the VM's
provisioning runs it with the system ``python3``, without the dev venv.
"""

"""Real servers on loopback for the tests and the benchmark.

A private MariaDB on its own data dir and port (``mariadb``) and gunicorn
replicas of the API (``replica``). Both run outside pytest too, so a missing
tool raises :class:`deploy.commands.ToolMissing` with one line naming it
and how to install it; the tests turn that into a skip or a failure. Standard
library and PyMySQL only.
"""

#!/bin/sh
# Entrypoint of the offline haproxy stand-in (see ../README.md), with the
# official image's documented behaviour; written for this stand-in:
#   - arguments that start with an option (`-v`, `-f FILE`) are haproxy's:
#     `haproxy` goes in front;
#   - `haproxy ...` runs as `haproxy -W -db ...`: master-worker (a reload is
#     SIGUSR2 to PID 1) and in the foreground, with its logs on stdout/stderr;
#   - any other command runs as given.
# The command is exec'ed, so haproxy is PID 1 and gets `docker stop`'s SIGUSR1.
set -eu

case "${1:-}" in
    -*) set -- haproxy "$@" ;;
esac

if [ "${1:-}" = haproxy ]; then
    shift
    set -- haproxy -W -db "$@"
fi

exec "$@"

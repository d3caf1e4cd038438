#!/bin/sh
# Image entrypoint (runs under tini). `entrypoint.sh <videoapi args...>` execs `videoapi "$@"`;
# before `serve`/`worker` it can wait for dependencies (VIDEOAPI_WAIT_FOR="host:port ...",
# VIDEOAPI_WAIT_TIMEOUT_S, default 60) and, for `serve`, migrate first (VIDEOAPI_MIGRATE_ON_START=1).
# A first word that is not a videoapi subcommand is a program (sh, python, ...), exec'd as is.
set -eu

# Waits for one host:port to accept TCP connections. python, not nc: the slim image has no nc.
wait_for() {
    python - "$1" "$2" <<'PY'
import socket
import sys
import time

target, timeout_s = sys.argv[1], float(sys.argv[2])
host, sep, port = target.rpartition(":")
if not sep or not host or not port.isdigit():
    sys.exit(f"entrypoint: VIDEOAPI_WAIT_FOR entry {target!r} is not host:port")
host = host.strip("[]")  # [::1]:5432
deadline = time.monotonic() + timeout_s
while True:
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            break
    except OSError as exc:
        if time.monotonic() >= deadline:
            sys.exit(f"entrypoint: timed out after {timeout_s:g}s waiting for {target} ({exc})")
        time.sleep(0.5)
PY
}

case "${1:-}" in
    serve | worker)
        timeout_s="${VIDEOAPI_WAIT_TIMEOUT_S:-60}"
        case "$timeout_s" in
            '' | *[!0-9]*)
                echo "entrypoint: VIDEOAPI_WAIT_TIMEOUT_S must be a whole number of seconds, got '$timeout_s'" >&2
                exit 2
                ;;
        esac
        for target in ${VIDEOAPI_WAIT_FOR:-}; do
            wait_for "$target" "$timeout_s"
        done
        if [ "$1" = serve ] && [ "${VIDEOAPI_MIGRATE_ON_START:-0}" = 1 ]; then
            videoapi db upgrade
        fi
        exec videoapi "$@"
        ;;
    # videoapi's other subcommands (tests/platform/test_docker.py keeps this list equal to the CLI's).
    db | destinations | doctor | keys | mcp | models | purge | storage | tasks | usage | watermark | -* | '')
        exec videoapi "$@"
        ;;
    *)
        # Any other program (sh, python, alembic) runs as is, so `docker run IMAGE sh` works.
        exec "$@"
        ;;
esac

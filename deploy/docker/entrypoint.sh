#!/bin/sh
# The image's entrypoint. No arguments: serve the HTTP API. Options only (`docker run IMAGE --workers 4`):
# serve with them. Anything else is a command, run as given (`docker run IMAGE marketcast volatility ...`).
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- marketcast serve --host "${MARKETCAST_HOST:-0.0.0.0}" --port "${MARKETCAST_PORT:-8000}" \
    ${MARKETCAST_WORKERS:+--workers "$MARKETCAST_WORKERS"} "$@"
fi
exec "$@"

#!/bin/sh
# ValidateService: the running release is the installed one.
set -eu
release=$(sed -n 's/^release=//p' /srv/shop/site/release.txt)
running=$(cat /srv/shop/running)
echo "health check on $(hostname): installed $release, running $running"
if [ "$running" != "$release" ]; then
  echo "running release $running is not the installed $release" >&2
  exit 1
fi
# The demo's deliberate failure, so that it can show a failed hook and the
# rollback: release 3 fails its health check on host-2 (each demo host has
# its own hostname).
if [ "$release" = 3 ] && [ "$(hostname)" = host-2 ]; then
  echo "GET http://localhost/healthz -> 503 Service Unavailable"
  echo "release 3 cannot reach the payments service from host-2" >&2
  exit 1
fi
echo "healthy"

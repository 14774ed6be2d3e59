#!/bin/sh
# ApplicationStop runs from the previously installed revision: take the
# running release out of service.
set -eu
if [ -f /srv/shop/running ]; then
  echo "stopping release $(cat /srv/shop/running) on $(hostname)"
  rm -f /srv/shop/running
fi

#!/bin/sh
# ApplicationStart: put the installed release in service.
set -eu
release=$(sed -n 's/^release=//p' /srv/shop/site/release.txt)
echo "$release" >/srv/shop/running
echo "release $release started on $(hostname)"

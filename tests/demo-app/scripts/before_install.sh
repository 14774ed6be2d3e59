#!/bin/sh
# BeforeInstall: the directories the release needs.
set -eu
mkdir -p /srv/shop
echo "preparing /srv/shop on $(hostname) for deployment $DEPLOYMENT_ID"

#!/bin/bash
# Installs everything the project needs from Debian (bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends $(grep -v '^#' .ci/debian-packages.txt)
.ci/install-python.sh

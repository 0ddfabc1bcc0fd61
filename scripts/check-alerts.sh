#!/usr/bin/env bash
# Checks the Prometheus alert rules: syntax (`promtool check rules`) and behaviour (the unit tests
# in deploy/prometheus/alerts.test.yml, `promtool test rules`). Installs promtool (Debian package
# `prometheus`) when it is missing and apt-get is available. Fails when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  command -v promtool >/dev/null 2>&1 || { echo "promtool not found (install the prometheus package)" >&2; exit 1; }
fi
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml

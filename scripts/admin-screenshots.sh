#!/usr/bin/env bash
# Regenerates the admin console's screenshots in docs/img/ (admin-<page>-desktop.png at 1280×800,
# admin-<page>-mobile.png at 390×844): runs the ignored browser test `screenshots_of_every_page`,
# which seeds a small data set into a fresh test database and photographs every page with real
# headless Chromium. Needs chromium and chromium-driver (apt-get install -y chromium chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
export ADMIN_SCREENSHOTS_DIR="$PWD/docs/img"
mkdir -p "$ADMIN_SCREENSHOTS_DIR"
if cargo nextest --version >/dev/null 2>&1; then
  scripts/test.sh --run-ignored only -E 'test(screenshots_of_every_page)'
else
  scripts/test.sh -p router-tests --test it screenshots_of_every_page -- --ignored
fi
ls -1 "$ADMIN_SCREENSHOTS_DIR"/admin-*.png

#!/usr/bin/env bash
# Browser tests (tests/browser): the console in headless Chromium over WebDriver.
# Installs Chromium when missing and starts a chromedriver for the run; arguments go to
# the test binary (e.g. `scripts/test-browser.sh --ignored console_screenshot`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chromedriver.sh

chromium_require
chromedriver_start
env -u TEST_POSTGRES_URL cargo test --locked --test browser -- --test-threads=1 "$@"

#!/usr/bin/env bash
# Installs the console's browser-test tools, pinned, under target/ (nothing global but
# the browser):
#   Debian's chromium       the browser (Playwright's own browser downloads are never
#                           used: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD)
#   target/console-venv     playwright, pytest (PyPI)
#   target/console-node     axe-core (npm), injected into pages by the accessibility test
# Idempotent: what is installed at its pinned version is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."

PLAYWRIGHT_VERSION=1.65.2
PYTEST_VERSION=9.2.0
AXE_CORE_VERSION=4.14.1

VENV=target/console-venv
NODE_DIR=target/console-node

if ! command -v chromium >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if ! { "$VENV/bin/pip" show playwright 2>/dev/null | grep -qx "Version: $PLAYWRIGHT_VERSION" &&
    "$VENV/bin/pip" show pytest 2>/dev/null | grep -qx "Version: $PYTEST_VERSION"; }; then
    python3 -m venv "$VENV"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/pip" install --quiet \
        "playwright==$PLAYWRIGHT_VERSION" "pytest==$PYTEST_VERSION"
fi

if [[ "$(node -p "require('./$NODE_DIR/node_modules/axe-core/package.json').version" 2>/dev/null)" != "$AXE_CORE_VERSION" ]]; then
    mkdir -p "$NODE_DIR"
    npm install --prefix "$NODE_DIR" --no-save --no-package-lock --no-audit --no-fund \
        --loglevel=error "axe-core@$AXE_CORE_VERSION"
fi

#!/usr/bin/env bash
# Installs the contract-test tools, pinned, under target/ (nothing global):
#   target/contract-venv   schemathesis, openapi-spec-validator (PyPI)
#   target/contract-node   newman (npm)
# Idempotent: a tool already installed at its pinned version is left alone.
# usage: tests/contract/install.sh [python] [node]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
SPEC_VALIDATOR_VERSION=0.9.0
NEWMAN_VERSION=6.2.2

VENV=target/contract-venv
NODE_DIR=target/contract-node

install_python() {
    if "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION" &&
        "$VENV/bin/pip" show openapi-spec-validator 2>/dev/null | grep -qx "Version: $SPEC_VALIDATOR_VERSION"; then
        return
    fi
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
}

install_node() {
    if [[ "$("$NODE_DIR/node_modules/.bin/newman" --version 2>/dev/null)" == "$NEWMAN_VERSION" ]]; then
        return
    fi
    mkdir -p "$NODE_DIR"
    npm install --prefix "$NODE_DIR" --no-save --no-package-lock --no-audit --no-fund \
        --loglevel=error "newman@$NEWMAN_VERSION"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(python node)
for target in "${targets[@]}"; do
    case "$target" in
        python) install_python ;;
        node) install_node ;;
        *) echo "install.sh: unknown target $target (python, node)" >&2; exit 2 ;;
    esac
done

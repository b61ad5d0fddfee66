#!/usr/bin/env bash
# Run the local demonstration against the tools in BIN_DIR (default build/bin).
set -euo pipefail
exec python3 "$(dirname "$0")/demo.py" "${1:-build/bin}"

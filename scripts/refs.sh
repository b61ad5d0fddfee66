#!/usr/bin/env bash
# Make the reference implementations available to the interop tests, if this machine
# has them. They are never part of this repository: they are unpacked, git-ignored,
# into .refs/{py,js} from a local mirror of their repositories, or pointed at with
# SETOWIRE_REF_PY / SETOWIRE_REF_JS. Without them the interop tests skip, loudly.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mirror=${SETOWIRE_REF_MIRROR:-/work/.mirror}

unpack() { # name, mirror repo folder, marker file
  local dest="$top/.refs/$1" src="$mirror/$2/repo"
  if [ -f "$dest/$3" ]; then echo "refs: $1 reference present in .refs/$1"; return; fi
  if [ -d "$src" ] && git --git-dir="$src" rev-parse HEAD >/dev/null 2>&1; then
    mkdir -p "$dest"
    git --git-dir="$src" archive HEAD | tar -x -C "$dest" && echo "refs: unpacked $1 reference into .refs/$1"
  else
    echo "refs: no $1 reference found (set SETOWIRE_REF_$(echo "$1" | tr a-z A-Z) or mirror $2); its interop tests will skip"
  fi
}

[ -n "${SETOWIRE_REF_PY:-}" ] && echo "refs: python reference from SETOWIRE_REF_PY=$SETOWIRE_REF_PY" \
  || unpack py setowire-org+py-setowire swarm.py
[ -n "${SETOWIRE_REF_JS:-}" ] && echo "refs: javascript reference from SETOWIRE_REF_JS=$SETOWIRE_REF_JS" \
  || unpack js setowire-org+js-setowire swarm.js
exit 0

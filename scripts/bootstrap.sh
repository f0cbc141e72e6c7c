#!/bin/sh
# Creates the virtualenv and installs GPT Desk with its test tools: the install half of
# `make run` and `make test`. Needs only Python >= 3.11 (and python3-venv on Debian/Ubuntu).
set -eu
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found; install Python 3.11 or newer" >&2; exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: GPT Desk needs Python >= 3.11, $PYTHON is $("$PYTHON" -V 2>&1)" >&2; exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    # Debian and Ubuntu ship ensurepip separately (python3-venv). As root, install it;
    # otherwise make the venv without pip and bring pip's wheel from PyPI ourselves.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      minor=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      apt-get update -qq && { apt-get install -y -qq "python$minor-venv" || apt-get install -y -qq python3-venv; }
      "$PYTHON" -m venv "$VENV"
    else
      "$PYTHON" -m venv --without-pip "$VENV"
      "$VENV/bin/python" - <<'PY'
import json, os, sys, tempfile, urllib.parse, urllib.request
index = "https://pypi.org/pypi/pip/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
wheel = next(f for f in meta["urls"] if f["packagetype"] == "bdist_wheel")
path = os.path.join(tempfile.mkdtemp(), wheel["filename"])
urllib.request.urlretrieve(urllib.parse.urljoin(index, wheel["url"]), path)
# A wheel is a zip Python can import from: pip installs itself from its own wheel.
sys.path.insert(0, path)
from pip._internal.cli.main import main
sys.exit(main(["install", "--quiet", path]))
PY
    fi
  fi
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[test]'

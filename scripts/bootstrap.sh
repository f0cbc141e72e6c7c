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
    # Debian and Ubuntu ship venv separately; install it when we may, else say what to do.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      minor=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      apt-get update -qq && { apt-get install -y -qq "python$minor-venv" || apt-get install -y -qq python3-venv; }
      "$PYTHON" -m venv "$VENV"
    else
      echo "error: '$PYTHON -m venv' failed; install your distribution's python3-venv package" >&2
      exit 1
    fi
  fi
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[test]'

#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (Rasa 3.6 needs Python < 3.11), or explains how to get one.
set -euo pipefail
candidates=("${PYTHON:-}" python3.10 "$HOME/.pyenv/versions/3.10"*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10)
for c in "${candidates[@]}"; do
  [[ -n "$c" ]] || continue
  if path=$(command -v "$c" 2>/dev/null) && "$path" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
    echo "$path"; exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep '^3\.10' || true); do
    p="$(pyenv root)/versions/$v/bin/python3.10"
    [[ -x "$p" ]] && { echo "$p"; exit 0; }
  done
fi
cat >&2 <<'MSG'
error: Python 3.10 not found (Rasa 3.6 needs Python 3.8-3.10).
Get it with one of:
  pyenv install 3.10.13            (then run make again)
  apt-get install python3.10 python3.10-venv
or point PYTHON at an interpreter:  make run PYTHON=/path/to/python3.10
MSG
exit 1

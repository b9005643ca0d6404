#!/usr/bin/env python3
"""nightshift's own rules for its Dockerfile, the pitfalls of the system it replaces (product.md,
"Lessons"; aws-facts.md, "Lambda container images"), checked without Docker:

- the final stage is Lambda's provided:al2023 base image, for the ARCH build argument
  (x86_64 or arm64);
- bootstrap is copied to /var/runtime/bootstrap with mode 755 (the base image's entrypoint runs
  it, as a non-root user) and the config to /var/task/nightshift.toml with mode 644;
- NIGHTSHIFT_CONFIG is set explicitly to that path;
- no ENV or ARG uses a name Lambda reserves, nor the name ENV (which misbehaved before);
- the last USER is not root.

    integration/image/rules.py [DOCKERFILE]     check (default: the repository's Dockerfile)
    integration/image/rules.py --self-test      check that each rule catches what it should
"""

import re
import sys
from pathlib import Path

RESERVED = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
    # Not reserved by Lambda, but it misbehaved in the system nightshift replaces: use APP_ENV.
    "ENV",
}
BASE = "public.ecr.aws/lambda/provided:al2023-${ARCH}"
CONFIG = "/var/task/nightshift.toml"


def instructions(text):
    """(line number, INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out, pending, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        word, _, rest = pending.partition(" ")
        out.append((start, word.upper(), rest.strip()))
        pending = ""
    return out


def env_names(args):
    """The names an ENV or ARG instruction defines (`A=1 B=2`, `A 1`, `A`)."""
    if "=" not in args.split(" ")[0]:
        return [args.split(" ")[0]]
    return re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", args)


def check(text):
    """The rule violations of a Dockerfile, as messages (empty: all rules hold)."""
    problems = []
    steps = instructions(text)
    froms = [i for i, (_, word, _) in enumerate(steps) if word == "FROM"]
    if not froms:
        return ["no FROM instruction"]
    final = steps[froms[-1]:]
    line, _, base = final[0]
    if base.split(" ")[0] != BASE:
        problems.append(f"line {line}: the final stage must be FROM {BASE}, not {base}")
    arch = [a for (_, w, a) in steps[:froms[0]] if w == "ARG" and a.startswith("ARCH")]
    if not arch or arch[0] not in ("ARCH=x86_64", "ARCH=arm64"):
        problems.append("ARG ARCH=x86_64 (or arm64) must come before the first FROM")

    def copies(dest, mode):
        return [
            (n, a) for (n, w, a) in final
            if w == "COPY" and a.split(" ")[-1] == dest and f"--chmod={mode}" in a.split(" ")
        ]

    if not copies("/var/runtime/bootstrap", "755"):
        problems.append("the final stage must COPY --chmod=755 ... /var/runtime/bootstrap")
    if not copies(CONFIG, "644"):
        problems.append(f"the final stage must COPY --chmod=644 ... {CONFIG}")
    if not any(w == "ENV" and f"NIGHTSHIFT_CONFIG={CONFIG}" in a.split(" ") for (_, w, a) in final):
        problems.append(f"the final stage must set ENV NIGHTSHIFT_CONFIG={CONFIG}")
    for number, word, args in steps:
        if word in ("ENV", "ARG"):
            for name in env_names(args):
                if name in RESERVED:
                    problems.append(
                        f"line {number}: {word} {name}: a reserved or unstable name; use NIGHTSHIFT_* or APP_ENV"
                    )
    users = [(n, a) for (n, w, a) in final if w == "USER"]
    if not users or users[-1][1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must end with a non-root USER, as Lambda runs it")
    return problems


def self_test(good):
    """Each mutation of the good Dockerfile must break exactly the rule it targets."""
    assert check(good) == [], check(good)
    mutations = {
        "the final stage must be FROM": good.replace(
            "FROM public.ecr.aws/lambda/provided:al2023-${ARCH}\n", "FROM public.ecr.aws/lambda/provided:al2\n"),
        "COPY --chmod=755": good.replace("--chmod=755", "--chmod=700"),
        "COPY --chmod=644": good.replace("--chmod=644", "--chmod=600"),
        "ENV NIGHTSHIFT_CONFIG": good.replace("ENV NIGHTSHIFT_CONFIG=", "ENV NIGHTSHIFT_CONFIGURATION="),
        "ENV ENV: a reserved": good + "ENV ENV=prod\n",
        "ENV TZ: a reserved": good + "ENV LANG=C TZ=Asia/Tokyo\n",
        "ARG AWS_REGION: a reserved": good + "ARG AWS_REGION=us-east-1\n",
        "non-root USER": good + "USER root\n",
        "ARG ARCH=x86_64": good.replace("ARG ARCH=x86_64", "ARG ARCH=amd64"),
    }
    for expected, text in mutations.items():
        problems = check(text)
        assert any(expected in p for p in problems), f"{expected!r} not caught: {problems}"
    print(f"rules.py: self-test ok ({len(mutations)} mutations caught)")


def main(argv):
    repo = Path(__file__).resolve().parents[2]
    if argv[1:] == ["--self-test"]:
        self_test((repo / "Dockerfile").read_text())
        return 0
    path = Path(argv[1]) if len(argv) > 1 else repo / "Dockerfile"
    problems = check(path.read_text())
    for problem in problems:
        print(f"rules.py: {path}: {problem}", file=sys.stderr)
    if not problems:
        print(f"rules.py: {path}: the image rules hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

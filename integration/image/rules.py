#!/usr/bin/env python3
"""nightshift's own rules for its Dockerfile, the pitfalls of the system it replaces (docs/contract.md,
"Environment"; AWS's documentation of Lambda container images), checked without Docker:

- the final stage is FROM ${BASE_IMAGE}, whose default is Lambda's provided:al2023 base image
  for the ARCH build argument (x86_64 or arm64), and the stage that compiles bootstrap is that
  same base image (so the binary needs no glibc newer than the one it runs on);
- bootstrap is copied to /var/runtime/bootstrap with mode 755 (the base image's entrypoint runs
  it, as a non-root user) and the config to /var/task/nightshift.toml with mode 644;
- NIGHTSHIFT_CONFIG is set explicitly to that path;
- no ENV or ARG uses a name Lambda reserves, nor the name ENV (which misbehaved before);
- the last USER is not root.

The same rules hold for a built image (`--image`), read from `podman image inspect` of the image
and of its base, and from its files (`podman image mount`):

- the user is not root; the entrypoint and working directory are the base image's (its
  entrypoint is what starts bootstrap); the command is exactly one argument (the handler name
  the entrypoint requires);
- the environment adds no reserved name (nor ENV) to the base's, and NIGHTSHIFT_CONFIG names a
  file of the image;
- /var/runtime/bootstrap is a file executable by others, every file under /var/task and
  /var/runtime is readable by others and every directory searchable, all owned by root (so
  that the function's own uid cannot change them) and none writable by group or others.

    integration/image/rules.py [DOCKERFILE]     check (default: the repository's Dockerfile)
    integration/image/rules.py --image INSPECT.json --base BASE_INSPECT.json --root ROOT
                                                check a built image (ROOT: its mounted files)
    integration/image/rules.py --self-test      check that each rule catches what it should
"""

import json
import os
import re
import stat
import sys
import tempfile
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
FINAL_FROM = "${BASE_IMAGE}"
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
    if base.split(" ")[0] != FINAL_FROM:
        problems.append(f"line {line}: the final stage must be FROM {FINAL_FROM}, not {base}")
    global_args = [a for (_, w, a) in steps[:froms[0]] if w == "ARG"]
    arch = [a for a in global_args if a.startswith("ARCH")]
    if not arch or arch[0] not in ("ARCH=x86_64", "ARCH=arm64"):
        problems.append("ARG ARCH=x86_64 (or arm64) must come before the first FROM")
    if f"BASE_IMAGE={BASE}" not in global_args:
        problems.append(f"ARG BASE_IMAGE={BASE} must come before the first FROM: Lambda's base is the default")
    builds = [(n, a) for (n, w, a) in steps if w == "FROM" and a.split(" ")[-1] == "build"]
    if not builds or builds[0][1].split(" ")[0] != BASE:
        problems.append(f"the stage that compiles bootstrap must be FROM {BASE} AS build")

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


def image_config(inspected):
    """The Config of `podman image inspect` output (a list of one image, or the image itself)."""
    if isinstance(inspected, list):
        inspected = inspected[0]
    return inspected.get("Config", {})


def env_map(config):
    return dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in config.get("Env") or [])


def check_image(inspected, base_inspected, root):
    """The rule violations of a built image: its config against its base's, and its files."""
    problems = []
    config, base = image_config(inspected), image_config(base_inspected)
    user = (config.get("User") or "").split(":")[0]
    if user in ("", "root", "0"):
        problems.append(f"user {config.get('User') or '(none)'}: the image must name a non-root user, as Lambda runs it")
    if config.get("Entrypoint") != base.get("Entrypoint"):
        problems.append(
            f"entrypoint {config.get('Entrypoint')} replaces the base image's {base.get('Entrypoint')}, which starts bootstrap")
    if len(config.get("Cmd") or []) != 1:
        problems.append(f"command {config.get('Cmd')}: the entrypoint wants exactly one argument, the handler name")
    if config.get("WorkingDir") != base.get("WorkingDir"):
        problems.append(f"working directory {config.get('WorkingDir')!r}, not the base image's {base.get('WorkingDir')!r}")
    env, base_env = env_map(config), env_map(base)
    for name in sorted(env):
        if name in RESERVED and env[name] != base_env.get(name):
            problems.append(f"environment {name}: a reserved or unstable name; use NIGHTSHIFT_* or APP_ENV")
    config_path = env.get("NIGHTSHIFT_CONFIG")
    if not config_path:
        problems.append("environment NIGHTSHIFT_CONFIG is not set")
    elif not (root / config_path.lstrip("/")).is_file():
        problems.append(f"NIGHTSHIFT_CONFIG={config_path}: no such file in the image")
    bootstrap = root / "var/runtime/bootstrap"
    if not bootstrap.is_file():
        problems.append("/var/runtime/bootstrap: no such file")
    elif not os.stat(bootstrap).st_mode & stat.S_IXOTH:
        problems.append(f"/var/runtime/bootstrap: mode {os.stat(bootstrap).st_mode & 0o777:o}, not executable by others")
    for top in ("var/task", "var/runtime"):
        for path in [root / top, *sorted((root / top).rglob("*"))]:
            info = os.lstat(path)
            shown = "/" + str(path.relative_to(root))
            mode = info.st_mode & 0o7777
            if stat.S_ISLNK(info.st_mode):
                continue
            if (info.st_uid, info.st_gid) != (0, 0):
                problems.append(f"{shown}: owned by {info.st_uid}:{info.st_gid}, not root")
            if mode & 0o022:
                problems.append(f"{shown}: mode {mode:o}, writable by group or others")
            wanted = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(info.st_mode) else 0)
            if mode & wanted != wanted:
                what = "searchable" if stat.S_ISDIR(info.st_mode) else "readable"
                problems.append(f"{shown}: mode {mode:o}, not {what} by others")
    return problems


def image_self_test():
    """Each mutation of a good image (config and files in a temporary directory) must break the
    rule it targets."""
    base = {"Config": {"Entrypoint": ["/lambda-entrypoint.sh"], "WorkingDir": "/var/task",
                       "Env": ["PATH=/usr/bin:/bin", "TZ=:/etc/localtime", "LAMBDA_TASK_ROOT=/var/task"]}}
    good = {"Config": dict(base["Config"], User="993:990", Cmd=["nightshift"],
                           Env=base["Config"]["Env"] + [f"NIGHTSHIFT_CONFIG={CONFIG}"])}

    def layout(root, bootstrap_mode=0o755, config_mode=0o644, config_owner=0):
        for d in ("var/task", "var/runtime"):
            (root / d).mkdir(parents=True)
            os.chmod(root / d, 0o755)
        (root / "var/runtime/bootstrap").write_text("")
        os.chmod(root / "var/runtime/bootstrap", bootstrap_mode)
        (root / CONFIG.lstrip("/")).write_text("")
        os.chmod(root / CONFIG.lstrip("/"), config_mode)
        if os.geteuid() == 0:
            for path in [root / "var", *(root / "var").rglob("*")]:
                os.chown(path, 0, 0)
            os.chown(root / CONFIG.lstrip("/"), config_owner, config_owner)

    def with_config(**changes):
        return {"Config": dict(good["Config"], **changes)}

    mutations = [
        ("a non-root user", with_config(User="root"), {}),
        ("a non-root user", with_config(User=""), {}),
        ("replaces the base image's", with_config(Entrypoint=["/var/runtime/bootstrap"]), {}),
        ("exactly one argument", with_config(Cmd=["nightshift", "extra"]), {}),
        ("working directory", with_config(WorkingDir="/"), {}),
        ("environment TZ: a reserved", with_config(Env=good["Config"]["Env"] + ["TZ=Asia/Tokyo"]), {}),
        ("environment ENV: a reserved", with_config(Env=good["Config"]["Env"] + ["ENV=prod"]), {}),
        ("NIGHTSHIFT_CONFIG is not set", with_config(Env=base["Config"]["Env"]), {}),
        ("no such file in the image",
         with_config(Env=base["Config"]["Env"] + ["NIGHTSHIFT_CONFIG=/var/task/other.toml"]), {}),
        ("not executable by others", good, {"bootstrap_mode": 0o750}),
        ("not readable by others", good, {"config_mode": 0o600}),
        ("writable by group or others", good, {"config_mode": 0o666}),
    ]
    if os.geteuid() == 0:
        mutations.append(("not root", good, {"config_owner": 993}))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "good"
        layout(root)
        assert check_image(good, base, root) == [], check_image(good, base, root)
        for i, (expected, inspected, files) in enumerate(mutations):
            root = Path(tmp) / str(i)
            layout(root, **files)
            problems = check_image(inspected, base, root)
            assert any(expected in p for p in problems), f"{expected!r} not caught: {problems}"
    return len(mutations)


def self_test(good):
    """Each mutation of the good Dockerfile must break exactly the rule it targets."""
    assert check(good) == [], check(good)
    mutations = {
        "the final stage must be FROM": good.replace(
            "FROM ${BASE_IMAGE}\n", "FROM public.ecr.aws/lambda/provided:al2\n"),
        "ARG BASE_IMAGE=": good.replace(
            "ARG BASE_IMAGE=public.ecr.aws/lambda/provided:al2023-${ARCH}", "ARG BASE_IMAGE=debian:12"),
        "AS build": good.replace(
            "FROM public.ecr.aws/lambda/provided:al2023-${ARCH} AS build", "FROM rust:1 AS build"),
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
    caught = image_self_test()
    print(f"rules.py: self-test ok ({len(mutations)} Dockerfile and {caught} built-image mutations caught)")


def main(argv):
    repo = Path(__file__).resolve().parents[2]
    if argv[1:] == ["--self-test"]:
        self_test((repo / "Dockerfile").read_text())
        return 0
    if argv[1:2] == ["--image"]:
        args = dict(zip(argv[1::2], argv[2::2]))
        if sorted(args) != ["--base", "--image", "--root"]:
            print("usage: rules.py --image INSPECT.json --base BASE_INSPECT.json --root ROOT", file=sys.stderr)
            return 2
        load = lambda key: json.loads(Path(args[key]).read_text())  # noqa: E731
        problems = check_image(load("--image"), load("--base"), Path(args["--root"]))
        for problem in problems:
            print(f"rules.py: image: {problem}", file=sys.stderr)
        if not problems:
            print(f"rules.py: image {args['--image']}: the image rules hold")
        return 1 if problems else 0
    path = Path(argv[1]) if len(argv) > 1 else repo / "Dockerfile"
    problems = check(path.read_text())
    for problem in problems:
        print(f"rules.py: {path}: {problem}", file=sys.stderr)
    if not problems:
        print(f"rules.py: {path}: the image rules hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

# syntax=docker/dockerfile:1
# nightshift as a Lambda container image (README: "Container image").
#
#   docker build -t nightshift:x86_64 .
#   docker build --platform linux/arm64 --build-arg ARCH=arm64 -t nightshift:arm64 .
#   integration/image/build.sh [BOOTSTRAP]      # a prebuilt bootstrap, no registry (podman/buildah)
#
# Build arguments:
#   ARCH            x86_64 (default) or arm64: the Lambda architecture, i.e. the base image's tag
#   BASE_IMAGE      the final stage's base [public.ecr.aws/lambda/provided:al2023-${ARCH}];
#                   build.sh passes a local image with the same paths, users and entrypoint
#   BOOTSTRAP_FROM  where bootstrap and the config come from: "build" (default) compiles them in
#                   the build stage; "prebuilt" takes `bootstrap` and `nightshift.toml` from the
#                   root of the build context, and the config's holiday files from its
#                   `calendar/` directory (build.sh stages them there, after checking the
#                   binary's glibc and validating the config); the other stage is never built
#   CONFIG          the config file in the build context, for "build"
#                   [integration/fixtures/config/contract.toml]
#   RUST_VERSION    the Rust toolchain of the build stage
#
# The build stage starts from the Lambda base image of the target architecture, so bootstrap is
# linked against the glibc it runs on (2.34 on AL2023) and never needs a newer one; the build also
# checks that (integration/image/glibc-check.sh) and validates the config, so a bad config fails
# here rather than at the function's first start. integration/image/check.sh lints this file.

ARG ARCH=x86_64
ARG BASE_IMAGE=public.ecr.aws/lambda/provided:al2023-${ARCH}
ARG BOOTSTRAP_FROM=build

FROM public.ecr.aws/lambda/provided:al2023-${ARCH} AS build
ARG RUST_VERSION=1.95.0
ARG CONFIG=integration/fixtures/config/contract.toml
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# gcc: aws-lc-sys (the AWS SDK's TLS) compiles C; binutils: readelf for the glibc check.
# The base image is itself pinned by tag; AL2023 packages are not versioned independently of it.
# hadolint ignore=DL3041
RUN dnf install -y gcc binutils && dnf clean all
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --no-modify-path --profile minimal --default-toolchain "${RUST_VERSION}"
ENV PATH=/root/.cargo/bin:${PATH}
WORKDIR /src
COPY . .
# The caches keep the registry and the compiled dependencies between builds; the binaries are
# copied out of the cached target directory, which is not part of the layer.
RUN --mount=type=cache,target=/root/.cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin bootstrap --bin nightshift \
    && mkdir -p /out \
    && cp target/release/bootstrap target/release/nightshift /out/
# The config's holiday files (`holidays = "F.ics"`, beside it) go into /var/task with it: the
# config's SHA-256, which the stack pins, covers them.
RUN integration/image/glibc-check.sh /out/bootstrap 2.34 \
    && /out/nightshift validate --config "${CONFIG}" \
    && cp "${CONFIG}" /out/nightshift.toml \
    && mkdir -p /out/calendar \
    && sed -n 's/^[[:space:]]*holidays[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "${CONFIG}" \
    | while read -r ics; do \
        mkdir -p "/out/calendar/$(dirname "$ics")" \
        && cp "$(dirname "${CONFIG}")/$ics" "/out/calendar/$ics"; \
      done

# A bootstrap built and checked outside (integration/image/build.sh): nothing is compiled and
# nothing is fetched, so the image builds with no registry at all.
FROM scratch AS prebuilt
COPY bootstrap nightshift.toml /out/
COPY calendar/ /out/calendar/

# The stage named by BOOTSTRAP_FROM; a builder skips the stage it does not name.
FROM ${BOOTSTRAP_FROM} AS bootstrap

FROM ${BASE_IMAGE}
# The base image's entrypoint (/lambda-entrypoint.sh) runs ${LAMBDA_RUNTIME_DIR}/bootstrap, under
# the runtime interface emulator when AWS_LAMBDA_RUNTIME_API is unset (docker run on a laptop).
# Lambda runs it as a non-root user with a read-only file system (only /tmp is writable), so
# everything is readable by others, the binary executable by others, and nothing is written.
COPY --from=bootstrap --chmod=755 /out/bootstrap /var/runtime/bootstrap
COPY --from=bootstrap --chmod=644 /out/nightshift.toml /var/task/nightshift.toml
COPY --from=bootstrap --chmod=644 /out/calendar/ /var/task/
# Never a reserved name (AWS_*, LAMBDA_*, _HANDLER, TZ, ...) and never ENV: nightshift reads
# NIGHTSHIFT_* and APP_ENV, which the function's configuration sets per environment.
ENV NIGHTSHIFT_CONFIG=/var/task/nightshift.toml
# A non-root user, as in Lambda (its sandbox user), so that `docker run` fails the same way
# Lambda would on a file only root can read.
USER 993:990
# The entrypoint wants exactly one argument, the handler name; bootstrap does not use it.
CMD ["nightshift"]

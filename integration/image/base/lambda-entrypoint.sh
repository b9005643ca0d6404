#!/bin/sh
# The local base image's entrypoint, with the Lambda base image's contract: exactly one argument
# (the handler, exported as _HANDLER), then /var/runtime/bootstrap, under the runtime interface
# emulator when AWS_LAMBDA_RUNTIME_API is unset. This base ships no emulator (it is the tests'
# Runtime API host that serves bootstrap here): without one, say how to get one.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

bootstrap=/var/runtime/bootstrap
if [ -n "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec "$bootstrap"
fi
rie=/usr/local/bin/aws-lambda-rie
if [ -x "$rie" ]; then
  exec "$rie" "$bootstrap"
fi
echo "AWS_LAMBDA_RUNTIME_API is not set and this local base has no runtime interface emulator: set it to a Runtime API host, or mount aws-lambda-rie at $rie" 1>&2
exit 127

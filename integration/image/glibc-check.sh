#!/usr/bin/env bash
# Check that BINARY starts on a glibc no newer than MAX (default 2.34, what Lambda's
# provided:al2023 base image ships): it is either static, or every GLIBC_x.y version it needs is
# <= MAX and the only libraries it links are ones every AL2023 image has (glibc's and libgcc_s).
#
#   integration/image/glibc-check.sh BINARY [MAX]
#
# Runs wherever binutils' readelf is (this machine, CI, the Dockerfile's build stage).
set -euo pipefail

binary=${1:?usage: $0 BINARY [MAX_GLIBC_VERSION]}
max=${2:-2.34}
[[ -f $binary ]] || { echo "glibc-check: $binary does not exist" >&2; exit 2; }
command -v readelf >/dev/null || { echo "glibc-check: readelf (binutils) is not installed" >&2; exit 2; }

interp=$(readelf -W -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
needed=$(readelf -W -d "$binary" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p' | sort -u)
if [[ -z $interp && -z $needed ]]; then
  echo "glibc-check: $binary is statically linked: ok"
  exit 0
fi

status=0
allowed='^(libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$'
for lib in $needed; do
  if ! [[ $lib =~ $allowed ]]; then
    echo "glibc-check: $binary links $lib, which provided:al2023 may not have" >&2
    status=1
  fi
done

# The GLIBC_ versions the binary requires (its .gnu.version_r section).
versions=$(readelf -W -V "$binary" | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/Name: GLIBC_//' | sort -uV)
highest=$(echo "$versions" | tail -n 1)
if [[ -n $highest && $(printf '%s\n%s\n' "$highest" "$max" | sort -V | tail -n 1) != "$max" ]]; then
  echo "glibc-check: $binary needs GLIBC_$highest, newer than the $max of the Lambda base image." >&2
  echo "glibc-check: the symbols that need more than $max:" >&2
  readelf -W --dyn-syms "$binary" | grep -o '[A-Za-z0-9_]*@GLIBC_[0-9.]*' | sort -u |
    while IFS=@ read -r symbol version; do
      v=${version#GLIBC_}
      if [[ $(printf '%s\n%s\n' "$v" "$max" | sort -V | tail -n 1) != "$max" ]]; then
        echo "  $symbol ($version)" >&2
      fi
    done
  echo "glibc-check: build in the Dockerfile's AL2023 build stage (or for a musl target) instead." >&2
  status=1
fi
if ((status == 0)); then
  echo "glibc-check: $binary needs GLIBC_${highest:-none} (<= $max) and links only $(paste -sd' ' <<<"$needed"): ok"
fi
exit "$status"

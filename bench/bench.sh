#!/usr/bin/env bash
# bench.sh: gradc build time per example, and time per _grad call of the
# document's examples (2x2: elementwise, matmul, sigmoid; 3x2/3x3: bias,
# conv, seed_conv; and mlp) against the same forward + backward in NumPy,
# measured in the same run. Not part of the test suite.
#
#   bench/bench.sh [SECONDS_PER_MEASUREMENT]      (GRADC=path/to/gradc, default build/gradc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
GRADC=${GRADC:-$root/build/gradc}
PY=${PYTHON:-/usr/bin/python3}
secs=${1:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cc -O2 -o "$tmp/time_grad" "$here/time_grad.c" -ldl
echo "# $("$GRADC" --version 2>/dev/null || echo "gradc (version unknown)"); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# NumPy $($PY -c 'import numpy; print(numpy.__version__)'), Python $($PY -c 'import sys; print(sys.version.split()[0])')"
printf '%-12s %12s %14s %14s %9s\n' example "build (ms)" "gradc (ns)" "numpy (ns)" speedup
declare -A np_ns
while read -r name ns; do np_ns[$name]=$ns; done < <($PY "$here/numpy_grad.py" "$secs")
for ex in elementwise matmul sigmoid bias conv seed_conv mlp; do
    t0=$(date +%s%N)
    "$GRADC" build "$root/examples/$ex.grad" -o "$tmp/$ex.so"
    t1=$(date +%s%N)
    read -r _ ns _ < <("$tmp/time_grad" "$tmp/$ex.so" "$ex" "$secs")
    np=${np_ns[$ex]}
    awk -v ex="$ex" -v t0="$t0" -v t1="$t1" -v ns="$ns" -v np="$np" \
        'BEGIN { printf "%-12s %12.1f %14.1f %14.1f %8.0fx\n", ex, (t1 - t0) / 1e6, ns, np, np / ns }' 
done

#!/usr/bin/env bash
# setup.sh: make sure a Debian 12 machine has what gradc's build and tests need.
#
#   scripts/setup.sh          check; install what is missing (as root), or print
#                             the apt-get command to run (as any other user)
#
# Needed (Debian 12 "bookworm" package: what is checked):
#   make, gcc, libc6-dev         the C toolchain (make, cc, <stdio.h>)
#   libgcc-N-dev                 gcc's sanitizer runtimes (for `make check-asan`)
#   flex, bison                  the front end's generators
#   llvm-19-dev                  llvm-config-19 and the LLVM C API headers
#   llvm-19-tools                FileCheck, not and lit (/usr/lib/llvm-19/...)
#   clang-19                     compiles programs that use generated .so/.h files
#   libclang-rt-19-dev           clang-19's sanitizer runtimes (ThreadSanitizer for
#                                `make check-tsan`); only recommended by clang-19
#   graphviz                     dot, to validate `gradc grad --dot`
#   python3, python3-numpy       /usr/bin/python3 with NumPy (lit, .npy checks)
#   valgrind                     memory and thread checking of generated code
#                                (`make check-valgrind`, `make check-tsan`)
#
# Idempotent: when everything is present it prints nothing and exits 0.
# Exit status: 0 all present (or installed), 1 something is missing.
#
# For testing this script (nothing is installed or changed):
#   GRADC_SETUP_DRY_RUN=1            print the apt-get commands instead of running them
#   GRADC_SETUP_PRETEND_MISSING="graphviz valgrind"
#                                    treat these packages as missing
#   GRADC_SETUP_PRETEND_USER=1       behave as when not running as root
#   GRADC_SETUP_PRETEND_NO_LISTS=1   behave as when the apt lists are empty
set -euo pipefail

LLVM=/usr/lib/llvm-19
PY=/usr/bin/python3
DRY=${GRADC_SETUP_DRY_RUN:-0}
PRETEND_MISSING=" ${GRADC_SETUP_PRETEND_MISSING:-} "

say() { printf 'setup: %s\n' "$*" >&2; }

# present PKG: true if what PKG provides is on this machine.
present() {
    local pkg=$1
    case $PRETEND_MISSING in *" $pkg "*) return 1 ;; esac
    case $pkg in
    make) command -v make ;;
    gcc) command -v cc && command -v gcc ;;
    libc6-dev) test -e /usr/include/stdio.h ;;
    libgcc-*-dev)
        # gcc prints the bare name when it cannot find the library.
        case $(cc -print-file-name=libasan.so 2>/dev/null) in /*) ;; *) return 1 ;; esac
        case $(cc -print-file-name=libubsan.so 2>/dev/null) in /*) ;; *) return 1 ;; esac ;;
    flex) command -v flex ;;
    bison) command -v bison ;;
    llvm-19-dev) command -v llvm-config-19 && test -e $LLVM/include/llvm-c/Core.h ;;
    llvm-19-tools)
        test -x $LLVM/bin/FileCheck && test -x $LLVM/bin/not &&
            test -e $LLVM/build/utils/lit/lit.py ;;
    clang-19) command -v clang-19 ;;
    libclang-rt-19-dev) compgen -G "$LLVM/lib/clang/*/lib/*/libclang_rt.tsan*" ;;
    graphviz) command -v dot ;;
    python3) test -x $PY ;;
    python3-numpy) $PY -c 'import numpy' ;;
    valgrind) command -v valgrind ;;
    *) say "internal error: no check for $pkg"; return 1 ;;
    esac
} >/dev/null 2>&1

# The package with gcc's libasan.so: libgcc-12-dev for gcc 12 (Debian 12).
gcc_major=12
if command -v cc >/dev/null 2>&1; then
    v=$(cc -dumpversion 2>/dev/null || true)
    case ${v%%.*} in [0-9]*) gcc_major=${v%%.*} ;; esac
fi
PKGS=(make gcc libc6-dev "libgcc-$gcc_major-dev" flex bison llvm-19-dev llvm-19-tools
      clang-19 libclang-rt-19-dev graphviz python3 python3-numpy valgrind)

missing_pkgs() {
    local p
    for p in "${PKGS[@]}"; do present "$p" || printf '%s\n' "$p"; done
}

mapfile -t missing < <(missing_pkgs)
[ ${#missing[@]} -eq 0 ] && exit 0

say "missing: ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
    say "this is not a Debian-like system (no apt-get); install the equivalents of:"
    say "  ${missing[*]}"
    exit 1
fi

uid=$(id -u)
[ "${GRADC_SETUP_PRETEND_USER:-0}" = 1 ] && uid=1000
if [ "$uid" -ne 0 ]; then
    say "not running as root; install them with:"
    printf 'sudo apt-get install -y --no-install-recommends %s\n' "${missing[*]}"
    exit 1
fi

run() {
    if [ "$DRY" = 1 ]; then
        say "would run: $*"
    else
        say "running: $*"
        "$@"
    fi
}

# apt-get update only when apt cannot install the packages as things stand:
# no package lists at all (a fresh container), or a package with no candidate.
need_update() {
    [ "${GRADC_SETUP_PRETEND_NO_LISTS:-0}" = 1 ] && return 0
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || return 0
    local p cand
    for p in "$@"; do
        cand=$(apt-cache policy "$p" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
        case $cand in '' | '(none)') return 0 ;; esac
    done
    return 1
}

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -y -o Dpkg::Use-Pty=0)
updated=0
if need_update "${missing[@]}"; then
    run "${APT[@]}" update
    updated=1
fi
if ! run "${APT[@]}" install --no-install-recommends "${missing[@]}"; then
    # Stale lists give 404s: refresh them once and try again.
    [ $updated = 1 ] && exit 1
    run "${APT[@]}" update
    run "${APT[@]}" install --no-install-recommends "${missing[@]}"
fi

[ "$DRY" = 1 ] && exit 0
mapfile -t still < <(missing_pkgs)
if [ ${#still[@]} -ne 0 ]; then
    say "still missing after apt-get install: ${still[*]}"
    exit 1
fi
say "installed: ${missing[*]}"

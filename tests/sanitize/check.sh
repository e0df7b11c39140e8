#!/usr/bin/env bash
# check.sh: the generated code under Valgrind and ThreadSanitizer.
#
#   tests/sanitize/check.sh valgrind OUTDIR     (make check-valgrind)
#   tests/sanitize/check.sh tsan OUTDIR         (make check-tsan)
#
# Both modes drive shared objects made by `gradc build` with
# tests/sanitize/drive.c, which loads one with dlopen, learns its arguments
# from PREFIX_model(), calls PREFIX_eval and PREFIX_grad on deterministic
# inputs (each argument its own heap block of exactly its size, outputs
# uninitialised), checks the results, and with --threads N calls them from N
# threads at once.
#
# valgrind: every program in $VALGRIND_PROGRAMS (every examples/*.grad, every
#   tests/backend/ops/*.grad, tests/backend/Inputs/keywords.grad) is built and
#   driven under memcheck (2 threads x 2 calls; an example in a process of its
#   own, the other programs all in one process per configuration) with
#       --error-exitcode=99 --leak-check=full
#       --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes
#   so an invalid read or write, a use of uninitialised memory (also an output
#   read before it is written), an invalid free or a leak (the driver frees
#   everything and dlcloses the library, so anything the library allocated and
#   did not free is lost) fails the run. Still-reachable blocks do not count:
#   they belong to glibc and the dynamic loader.
#   The examples are built as f64 -O2, f32 -O2 and f64 -O0, the other programs
#   as f64 -O2 and f32 -O2. Everything is built with `--cpu generic`: code for
#   this machine's CPU may use AVX-512, which Valgrind cannot execute (SIGILL).
#   When the CPU has no AVX-512, the examples are also built for it (native)
#   and driven. And `gradc run` on one example (the JIT) runs under memcheck
#   (leaks: definite and indirect only, as LLVM keeps some memory to the end).
#   Memcheck sees the red zones of heap blocks only: an overrun of a stack
#   temporary inside the generated code is not seen.
#
# tsan: the driver is built with `clang-19 -fsanitize=thread` and drives every
#   program of $TSAN_PROGRAMS (every examples/*.grad, and the two of
#   tests/backend/ops whose code mallocs a workspace or calls the runtime's
#   matmul kernel), built for this machine's CPU, from 4 threads x 20000
#   calls at once (a thread stops early after 3 s: the large programs), every
#   call checked against the first one bit for bit;
#   tests/backend/Inputs/use_seed_conv.c (the two-thread test of
#   tests/backend/shared_object.test) is built with -fsanitize=thread too and
#   run. TSAN_OPTIONS=halt_on_error=1:exitcode=66 makes any report fail.
#   The generated .so is not instrumented (LLVM compiled it, not clang with
#   -fsanitize=thread), so TSan checks the callers, the shared inputs, libc
#   and the thread handling, not the accesses inside the .so. Those are
#   checked by Valgrind's helgrind, which instruments the machine code: the
#   same programs (--cpu generic) are driven by 2 threads under helgrind
#   (--error-exitcode=99).
#
# Self-tests: each mode first checks that it can fail. tests/sanitize/
# bad_model.c is a hand-written model .so with one deliberate bug chosen by
# -DBUG=N; the control (BUG=0) must pass, and each bug must be reported by
# the tool itself (exit status 99 from Valgrind, 66 from TSan; a failure of
# the driver's own checks, status 1, does not count):
#   valgrind: 1 write past the end of an output, 2 read past the end of an
#             input, 3 an output read before it is written, 4 a leak;
#   tsan:     5 a static scratch buffer shared by concurrent calls, under TSan
#             (bad_model.c built with -fsanitize=thread) and under helgrind
#             (not instrumented, as generated code is).
#
# Environment: GRADC (default build/gradc), CC (cc), TSAN_CC (clang-19),
# VALGRIND (valgrind), JOBS (parallel runs; default the number of CPUs),
# VALGRIND_PROGRAMS, TSAN_PROGRAMS (space-separated .grad files),
# TSAN_ITERS (20000), TSAN_SECONDS (3), VALGRIND_JIT (1: also `gradc run` under memcheck).
# Exit status 0 when every check passed, 1 otherwise. The logs of every run are
# kept in OUTDIR; those of a failed run are printed.
set -uo pipefail

mode=${1:-}
out=${2:-}
case $mode in valgrind | tsan) ;; *)
    echo "usage: tests/sanitize/check.sh valgrind|tsan OUTDIR" >&2
    exit 2 ;;
esac
[ -n "$out" ] || { echo "check.sh: no OUTDIR" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
GRADC=${GRADC:-$root/build/gradc}
CC=${CC:-cc}
TSAN_CC=${TSAN_CC:-clang-19}
VALGRIND=${VALGRIND:-valgrind}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
TSAN_ITERS=${TSAN_ITERS:-20000}
TSAN_SECONDS=${TSAN_SECONDS:-3}
VALGRIND_JIT=${VALGRIND_JIT:-1}
if [ -z "${VALGRIND_PROGRAMS:-}" ]; then
    VALGRIND_PROGRAMS=$(ls "$root"/examples/*.grad "$root"/tests/backend/ops/*.grad \
        "$root"/tests/backend/Inputs/keywords.grad)
fi
# examples, plus the programs whose generated code allocates a workspace on
# the heap or calls the runtime's matmul kernel
TSAN_PROGRAMS=${TSAN_PROGRAMS:-$(ls "$root"/examples/*.grad "$root"/tests/backend/ops/heap_workspace.grad \
    "$root"/tests/backend/ops/matmul_kernel.grad)}

# shellcheck disable=SC2054 # the commas are in option values
MEMCHECK=("$VALGRIND" -q --tool=memcheck --error-exitcode=99 --leak-check=full
          --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible
          --track-origins=yes --keep-debuginfo=yes)
HELGRIND=("$VALGRIND" -q --tool=helgrind --error-exitcode=99 --keep-debuginfo=yes)
export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

[ -x "$GRADC" ] || { echo "check.sh: no gradc at $GRADC (run make)" >&2; exit 2; }
GRADC=$(cd "$(dirname "$GRADC")" && pwd)/$(basename "$GRADC")
rm -rf "$out"
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)

failed=0
passed=0
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

# run WANT NAME CMD...: runs CMD with its output in $out/logs/NAME.log, and
# passes if it exits with status WANT. Prints one line either way, and the
# log of a failure.
run() {
    local want=$1 name=$2 status=0 t0=$SECONDS
    shift 2
    "$@" >"$out/logs/$name.log" 2>&1 || status=$?
    if [ "$status" -eq "$want" ]; then
        echo "ok    $name (exit status $status, $((SECONDS - t0))s)"
        return 0
    fi
    echo "FAIL: $name: exit status $status, expected $want; log $out/logs/$name.log:"
    sed 's/^/    /' "$out/logs/$name.log" | head -60
    return 1
}

# Runs of the programs go through a pool of $JOBS background jobs; each
# job's line goes to its own file, printed in order at the end.
pool_n=0
pool_pids=()
pool_add() {
    local i=$pool_n
    pool_n=$((pool_n + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n 2>/dev/null || true; done
    ( run "$@" >"$out/logs/pool.$i.txt" ) &
    pool_pids[i]=$!
}
pool_wait() {
    local i
    for ((i = 0; i < pool_n; i++)); do
        if wait "${pool_pids[$i]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        cat "$out/logs/pool.$i.txt"
    done
    pool_n=0
    pool_pids=()
}
check() { # like run, counted
    if run "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# build CONFIG FILE -> $out/CONFIG/DIR/STEM.so (DIR: the source directory's
# name, as examples/conv.grad and tests/backend/ops/conv.grad share a stem).
so_path() {
    local f=$1 cfg=$2
    echo "$out/$cfg/$(basename "$(dirname "$f")")/$(basename "$f" .grad).so"
}
build() {
    local cfg=$1 f=$2 so
    shift 2
    so=$(so_path "$f" "$cfg")
    mkdir -p "$(dirname "$so")"
    if ! "$GRADC" build "$f" -o "$so" "$@" >"$out/logs/build.log" 2>&1; then
        fail "gradc build $f $* (config $cfg):"
        sed 's/^/    /' "$out/logs/build.log"
        return 1
    fi
}

start=$SECONDS
CFLAGS_DRIVE=(-std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -g)

# The driver takes gradc_model from a generated header, so that it reads the
# struct the compiler writes.
mkdir -p "$out/hdr"
if ! "$GRADC" build "$root/examples/seed_conv.grad" -o "$out/hdr/seed_conv.so" >"$out/logs/hdr.log" 2>&1; then
    cat "$out/logs/hdr.log"
    echo "check.sh: gradc build failed"
    exit 1
fi
# bad_model.c with -DBUG=N into $out/bad/NAME.so, compiled by COMPILER
# with the extra flags after it.
bad() {
    local name=$1 n=$2 cc=$3
    shift 3
    mkdir -p "$out/bad"
    "$cc" -std=c11 -g -O0 -shared -fPIC -DBUG="$n" "$@" -o "$out/bad/$name.so" "$here/bad_model.c"
}

if [ "$mode" = valgrind ]; then
    command -v "$VALGRIND" >/dev/null || { echo "check.sh: no $VALGRIND (scripts/setup.sh installs it)"; exit 1; }
    "$CC" "${CFLAGS_DRIVE[@]}" -O1 -include "$out/hdr/seed_conv.h" -o "$out/drive" \
        "$here/drive.c" -ldl -lm -pthread || exit 1

    echo "--- self-test: memcheck must report each deliberate bug of bad_model.c"
    names=(control oob-write oob-read uninit-output leak)
    for n in 0 1 2 3 4; do
        bad "bug$n" "$n" "$CC" || exit 1
        want=99
        [ "$n" -eq 0 ] && want=0
        check "$want" "selftest-memcheck-$n-${names[$n]}" \
            "${MEMCHECK[@]}" "$out/drive" "$out/bad/bug$n.so" bad --threads 2 --iters 2
    done

    echo "--- memcheck: the generated code of every program"
    # the slowest run first: gradc itself and its JIT (LLVM) under memcheck
    if [ "$VALGRIND_JIT" = 1 ]; then
        pool_add 0 "memcheck-gradc-run-seed_conv" \
            "${MEMCHECK[@]}" --errors-for-leak-kinds=definite,indirect \
            "$GRADC" run "$root/examples/seed_conv.grad" --seed 7
    fi
    configs=("f64-O2:--dtype f64 -O2 --cpu generic" "f32-O2:--dtype f32 -O2 --cpu generic"
             "f64-O0:--dtype f64 -O0 --cpu generic")
    if grep -q avx512 /proc/cpuinfo 2>/dev/null; then
        echo "(native: not run, this CPU has AVX-512, which Valgrind cannot execute)"
    else
        configs+=("native-f64-O2:--dtype f64 -O2 --cpu native")
    fi
    for c in "${configs[@]}"; do
        cfg=${c%%:*}
        read -r -a flags <<<"${c#*:}"
        # an example: one process each; the others: one process for all
        others=()
        for f in $VALGRIND_PROGRAMS; do
            case $f in
            */examples/*) ;;
            *) case $cfg in f64-O2 | f32-O2) ;; *) continue ;; esac ;;
            esac
            build "$cfg" "$f" "${flags[@]}" || continue
            so=$(so_path "$f" "$cfg")
            stem=$(basename "$so" .so)
            case $f in
            */examples/*)
                pool_add 0 "memcheck-$cfg-examples-$stem" \
                    "${MEMCHECK[@]}" "$out/drive" --threads 2 --iters 2 "$so" "$stem" ;;
            *) others+=("$so" "$stem") ;;
            esac
        done
        if [ ${#others[@]} -gt 0 ]; then
            pool_add 0 "memcheck-$cfg-others-$((${#others[@]} / 2))-programs" \
                "${MEMCHECK[@]}" "$out/drive" --threads 2 --iters 2 "${others[@]}"
        fi
    done
    pool_wait
else
    command -v "$TSAN_CC" >/dev/null || { echo "check.sh: no $TSAN_CC (scripts/setup.sh installs clang-19)"; exit 1; }
    command -v "$VALGRIND" >/dev/null || { echo "check.sh: no $VALGRIND (scripts/setup.sh installs it)"; exit 1; }
    TSAN=(-fsanitize=thread -fno-omit-frame-pointer)
    "$TSAN_CC" "${CFLAGS_DRIVE[@]}" -O1 "${TSAN[@]}" -include "$out/hdr/seed_conv.h" \
        -o "$out/drive-tsan" "$here/drive.c" -ldl -lm -pthread || {
        echo "check.sh: cannot build with $TSAN_CC -fsanitize=thread (Debian: libclang-rt-19-dev)"
        exit 1
    }
    "$CC" "${CFLAGS_DRIVE[@]}" -O1 -include "$out/hdr/seed_conv.h" -o "$out/drive" \
        "$here/drive.c" -ldl -lm -pthread || exit 1

    echo "--- self-test: TSan and helgrind must report the race of bad_model.c"
    bad tsan-bug0 0 "$TSAN_CC" "${TSAN[@]}" && bad tsan-bug5 5 "$TSAN_CC" "${TSAN[@]}" &&
        bad bug0 0 "$CC" && bad bug5 5 "$CC" || exit 1
    check 0 selftest-tsan-0-control "$out/drive-tsan" "$out/bad/tsan-bug0.so" bad --threads 4 --iters 2000
    check 66 selftest-tsan-5-race "$out/drive-tsan" "$out/bad/tsan-bug5.so" bad --threads 4 --iters 2000
    check 0 selftest-helgrind-0-control "${HELGRIND[@]}" "$out/drive" "$out/bad/bug0.so" bad --threads 2 --iters 3
    check 99 selftest-helgrind-5-race "${HELGRIND[@]}" "$out/drive" "$out/bad/bug5.so" bad --threads 2 --iters 3

    echo "--- ThreadSanitizer: 4 threads x $TSAN_ITERS calls (or ${TSAN_SECONDS}s) of each program's _grad"
    for f in $TSAN_PROGRAMS; do
        build native "$f" || continue
        so=$(so_path "$f" native)
        stem=$(basename "$so" .so)
        pool_add 0 "tsan-$stem" "$out/drive-tsan" "$so" "$stem" --threads 4 --iters "$TSAN_ITERS" \
            --seconds "$TSAN_SECONDS"
    done
    pool_wait

    echo "--- ThreadSanitizer: tests/backend/Inputs/use_seed_conv.c (two threads)"
    u=$out/use_seed_conv
    mkdir -p "$u"
    if "$GRADC" build "$root/examples/seed_conv.grad" -o "$u/seed_conv.so" >"$out/logs/use.log" 2>&1 &&
        "$GRADC" run "$root/examples/seed_conv.grad" --seed 7 --out "$u/out" >>"$out/logs/use.log" 2>&1 &&
        "$TSAN_CC" -std=c99 -Wall -Wextra -pedantic -Werror -g -O1 "${TSAN[@]}" -I"$u" \
            -o "$u/use_seed_conv" "$root/tests/backend/Inputs/use_seed_conv.c" "$u/seed_conv.so" \
            -pthread -Wl,-rpath,"$u" >>"$out/logs/use.log" 2>&1; then
        check 0 tsan-use_seed_conv "$u/use_seed_conv" "$u/out"
    else
        fail "building use_seed_conv with $TSAN_CC -fsanitize=thread:"
        sed 's/^/    /' "$out/logs/use.log"
    fi

    echo "--- helgrind: 2 threads in the generated code of the same programs"
    for f in $TSAN_PROGRAMS; do
        build generic "$f" --cpu generic || continue
        so=$(so_path "$f" generic)
        stem=$(basename "$so" .so)
        pool_add 0 "helgrind-$stem" "${HELGRIND[@]}" "$out/drive" "$so" "$stem" --threads 2 --iters 5
    done
    pool_wait
fi

echo "check-$mode: $passed passed, $failed failed, $((SECONDS - start))s (logs in $out/logs)"
[ "$failed" -eq 0 ]

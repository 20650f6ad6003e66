#!/bin/sh
# Runs each test program given, shows its output, and ends with the overall
# "N passed, N failed". A program that crashes or exits non-zero without a summary line
# counts as one failure. Exits 1 if anything failed.
set -u
passed=0
failed=0
broken=""
# LeakSanitizer cannot follow Open MPI's plugins; MPI test programs (test_mpi_*) run with
# leak detection off, everything else with it on.
for t in "$@"; do
    name=$(basename "$t")
    echo "== $name"
    case "$name" in
    test_mpi_*) opts="detect_leaks=0" ;;
    *) opts="detect_leaks=1" ;;
    esac
    out=$(ASAN_OPTIONS="${ASAN_OPTIONS:-}:$opts:abort_on_error=0" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" "$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -n "$summary" ]; then
        p=${summary%% passed*}
        f=${summary#*, }
        f=${f%% failed}
        passed=$((passed + p))
        failed=$((failed + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            failed=$((failed + 1))
            broken="$broken $name(exit $rc)"
        fi
    else
        failed=$((failed + 1))
        broken="$broken $name(exit $rc, no summary)"
    fi
done
echo "=="
[ -n "$broken" ] && echo "broken programs:$broken"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

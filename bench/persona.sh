#!/bin/sh
# bench: the persona matrix, ours beside the peers, in one run on this machine.
#   build: rows/s, peak memory, and whether gzip pays for itself (targets: 1,000,000 rows
#          in <= 5 s and <= 512 MB)
#   similar: cosine top-10 over the first 1,000,000 rows, ours (blocked sgemm) beside
#          numpy brute force on the same rows and queries (target <= 50 ms; numpy ~56 ms)
# Usage: bench/persona.sh BUILD_DIR   (make bench runs it)
set -eu
B=${1:-build}
T=${BENCH_DIR:-/tmp/troupe-bench}
mkdir -p "$T"
TROUPE="$B/troupe"

echo "== persona bench on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
rm -rf "$T/roles"
"$TROUPE" persona author -o "$T/roles" >/dev/null

build() { # name, extra args
    name=$1
    shift
    rm -f "$T/$name.h5"
    /usr/bin/time -f "%e %M" -o "$T/$name.time" \
        "$TROUPE" persona build --roles "$T/roles" -o "$T/$name.h5" "$@" >"$T/$name.out"
    set -- $(cat "$T/$name.time")
    wall=$1
    rss_mb=$(($2 / 1024))
    rows=$(sed -n 's/.* \([0-9]*\) rows x .*/\1/p' "$T/$name.out")
    size_mb=$(($(stat -c %s "$T/$name.h5") / 1048576))
    per_m=$(awk -v w="$wall" -v r="$rows" 'BEGIN { printf "%.2f", w * 1e6 / r }')
    printf '%-10s rows %8s  wall %6.2f s  (%s s per 1M rows)  peak RSS %4s MB  file %4s MB\n' \
        "$name" "$rows" "$wall" "$per_m" "$rss_mb" "$size_mb"
    sed -n 's/^persona build: wrote .* in \(.*\)$/           breakdown: \1/p' "$T/$name.out"
}
echo "-- build (authored set of $(ls "$T/roles" | wc -l) roles)"
build gzip0 --set output.gzip=0
build gzip1 --set output.gzip=1
build threads1 --set threads=1
# The files differ in their stored config (threads=1); the data must not.
same=yes
for d in /features /id /role /axis/scene /axis/language /axis/emotion /axis/pacing /axis/register; do
    h5diff -q "$T/gzip0.h5" "$T/threads1.h5" "$d" "$d" >/dev/null 2>&1 || same=no
done
echo "           threads=1 and all-core datasets identical: $same"

echo "-- similar: top-10 over the first 1,000,000 rows, 20 queries, warm"
"$B/bench/persona_knn" "$T/gzip0.h5" 1000000 20 10 >"$T/ours.txt"
/usr/bin/python3 bench/persona_knn_numpy.py "$T/gzip0.h5" 1000000 20 10 >"$T/numpy.txt"
get() { sed -n "s/^$2 //p" "$1"; }
printf '%-22s %10s %10s %12s\n' "" "median ms" "p95 ms" "load s"
printf '%-22s %10s %10s %12s\n' "troupe (sgemm)" "$(get "$T/ours.txt" query_median_ms)" \
    "$(get "$T/ours.txt" query_p95_ms)" "$(get "$T/ours.txt" load_s)"
printf '%-22s %10s %10s %12s\n' "numpy brute force" "$(get "$T/numpy.txt" query_median_ms)" \
    "$(get "$T/numpy.txt" query_p95_ms)" "$(get "$T/numpy.txt" load_s)"
echo "troupe, 20 queries in one batched sgemm: $(get "$T/ours.txt" batched_per_query_ms) ms per query"
echo "one-thread read of the same 512 MB: $(get "$T/ours.txt" scan_one_thread_ms) ms ($(get "$T/ours.txt" scan_gb_per_s) GB/s)"
echo "top-1 of query 0: troupe $(get "$T/ours.txt" top1_of_query0), numpy $(get "$T/numpy.txt" top1_of_query0)"

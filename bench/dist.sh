#!/bin/sh
# bench: data-parallel training of the small model, one BLAS thread per rank: 1 rank beside
# 2 ranks (shared memory, then TCP), the gradient exchange beside a raw bucketed
# MPI_Allreduce of the same bytes in the same run, the share of the exchange hidden behind
# the backward, and a ring all-reduce cost model for 8-64 ranks from the measured TCP
# bandwidth and latency. Targets: 2 ranks >= 1.8x the tokens/s of 1 rank; exchange >= 80%
# of the raw bucketed all-reduce's speed. Usage: bench/dist.sh BUILD_DIR
set -eu
B=${1:-build}
STEPS=${BENCH_STEPS:-3}
MB=${BENCH_BUCKET_MB:-8}
cfg=${BENCH_MODEL:-configs/model/small.yaml}
mb=4 T=${BENCH_T:-512} acc=2
run="$B/bench/dist_step $cfg $mb $T $acc $STEPS $MB"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OPENBLAS_NUM_THREADS=1
mpi="mpirun --oversubscribe --bind-to core -np 2"
D=$(mktemp -d)
echo "== data-parallel bench: $(basename $cfg .yaml), global batch $acc x $mb x $T tokens, bucket $MB MiB, median of $STEPS steps, 1 BLAS thread per rank"
$run >"$D/one"
$mpi $run >"$D/two"
OMPI_MCA_btl=tcp,self $mpi $run >"$D/tcp"
get() { sed -n "s/^$2 //p" "$D/$1"; }
printf '%-26s %9s %10s %9s %11s %11s\n' "" "step ms" "tokens/s" "speed-up" "exch alone" "exch waited"
for k in one two tcp; do
    case $k in one) name="1 rank" ;; two) name="2 ranks, shared memory" ;; tcp) name="2 ranks, TCP" ;; esac
    printf '%-26s %9s %10s %8.2fx %9s ms %9s ms\n' "$name" "$(get $k step_ms)" "$(get $k tokens_per_s)" \
        "$(echo "$(get $k tokens_per_s) / $(get one tokens_per_s)" | bc -l)" \
        "$(get $k exchange_alone_ms)" "$(get $k exchange_waited_ms)"
done
for k in two tcp; do
    alone=$(get $k exchange_alone_ms) raw=$(get $k raw_bucketed_allreduce_ms) single=$(get $k raw_single_allreduce_ms)
    waited=$(get $k exchange_waited_ms)
    echo "$k: gradients $(get $k grad_mb) MiB; our exchange alone $alone ms, raw bucketed MPI_Allreduce $raw ms" \
        "($(echo "100 * $raw / $alone" | bc -l | xargs printf '%.0f')% of raw speed), one $(get $k grad_mb) MiB MPI_Allreduce $single ms;" \
        "in a step the exchange cost $waited ms of waiting: $(echo "h = 100 * (1 - $waited / $alone); if (h < 0) h = 0; h" | bc -l | xargs printf '%.0f')% of it hidden behind the backward"
done
# Ring all-reduce cost model: t(N) = 2 (N-1) alpha + 2 (N-1)/N bytes / bw per bucket, alpha
# and bw from the TCP run (bw from the raw bucketed time, minus its latency terms).
awk -v lat="$(get tcp allreduce_latency_us)" -v raw="$(get tcp raw_bucketed_allreduce_ms)" \
    -v mib="$(get tcp grad_mb)" -v mbk="$MB" -v step="$(get one step_ms)" -v acc=$acc \
    -v tok="$(get one tokens_per_s)" -v waited="$(get tcp exchange_waited_ms)" \
    -v alone="$(get tcp exchange_alone_ms)" 'BEGIN {
    alpha = lat / 2 / 1e6; nb = int(mib / mbk); if (nb * mbk < mib) nb++; bytes = mib * 1048576
    rest = raw / 1e3 - nb * 2 * alpha; bw = rest > 0.2 * raw / 1e3 ? bytes / rest : bytes / (raw / 1e3)
    hidden = 1 - waited / alone; if (hidden < 0) hidden = 0
    compute = step / acc / 1e3  # one micro-batch per rank per step
    printf "scale-out estimate (weak scaling, 1 micro-batch per rank and step; TCP bandwidth %.2f GB/s, latency %.0f us, %.0f%% of the exchange hidden):\n", bw / 1e9, lat, hidden * 100
    printf "  %6s %12s %14s %12s\n", "ranks", "exchange ms", "tokens/s", "efficiency"
    for (n = 8; n <= 64; n *= 2) {
        t = nb * 2 * (n - 1) * alpha + 2 * (n - 1) / n * bytes / bw
        st = compute + t * (1 - hidden)
        printf "  %6d %12.1f %14.0f %11.0f%%\n", n, t * 1e3, n * tok / acc * compute / st, 100 * compute / st
    }
}'
rm -rf "$D"

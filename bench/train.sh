#!/bin/sh
# bench: a training step of the small model at T=512, B=8 (forward, backward, AdamW), ours
# beside the same model in PyTorch (float32, CPU, same threads and batch layout), and our
# fraction of the sgemm rate measured in the same run. Target: >= 2x PyTorch's tokens/s
# and >= 60% of sgemm. Usage: bench/train.sh BUILD_DIR
set -eu
B=${1:-build}
STEPS=${BENCH_STEPS:-3}
threads=$(nproc)
# troupe sets this for itself (cli/main.c): OpenBLAS's idle threads spin 2^12 cycles after a
# threaded GEMM instead of 2^28. Exported here so the bench program and PyTorch run as
# `troupe train` does; set it in the environment to measure another value.
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-12}
cfg=configs/model/small.yaml
get() { sed -n "s/^$2 //p" "$1"; }
T=$(mktemp -d)
echo "== train-step bench on $threads cores: small, B=8, T=512, median of $STEPS steps (OPENBLAS_THREAD_TIMEOUT=$OPENBLAS_THREAD_TIMEOUT)"
OPENBLAS_NUM_THREADS=$threads "$B/bench/train_step" "$cfg" 8 512 "$STEPS" >"$T/ours"
num() { sed -n "s/^$1: *\([0-9]*\).*/\1/p" $cfg; }
d=$(num d_model); l=$(num n_layers); h=$(num n_heads); s=$(num max_seq); st=$(num stack)
/usr/bin/python3 bench/train_torch.py "$d" "$l" "$h" "$s" "$st" 8 512 "$STEPS" "$threads" >"$T/torch"
printf '%-28s %10s %12s\n' "" "step ms" "tokens/s"
printf '%-28s %10s %12s\n' "troupe" "$(get "$T/ours" step_ms)" "$(get "$T/ours" tokens_per_s)"
printf '%-28s %10s %12s\n' "$(get "$T/torch" torch | sed 's/^/pytorch /')" \
    "$(get "$T/torch" step_ms)" "$(get "$T/torch" tokens_per_s)"
echo "troupe: $(get "$T/ours" params) parameters, $(get "$T/ours" achieved_gflops) GFLOP/s achieved," \
    "sgemm $(get "$T/ours" sgemm_gflops) GFLOP/s in the same run, median of 21 calls ($(get "$T/ours" fraction_of_sgemm) of it;" \
    "fastest call $(get "$T/ours" sgemm_best_gflops), $(get "$T/ours" fraction_of_best_sgemm) of it)," \
    "peak RSS $(get "$T/ours" peak_rss_mb) MB"
echo "where a step's time goes (each layer alone at these shapes, forward + backward, x calls per step; % of the measured step):"
sed -n 's/^part /  /p' "$T/ours"
rm -rf "$T"

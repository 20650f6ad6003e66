#!/bin/sh
# bench: streaming latency of `troupe generate` with the small model on one core: the time
# from the end of the user's audio (its last chunk pushed) to the first reply token, over 20
# runs (different seeds and utterances), p50 and p95. Target: p95 <= 50 ms. The checkpoint
# is a 1-step small model (latency does not depend on what the weights learned).
# Usage: bench/generate.sh BUILD_DIR
set -eu
B=${1:-build}
TR="$PWD/$B/troupe"
D=${BENCH_DIR:-/tmp/troupe-bench}/generate
rm -rf "$D"
mkdir -p "$D"
"$TR" -q persona build --roles configs/personas/archetypes -o "$D/personas.h5" >/dev/null
"$TR" -q data synth --personas "$D/personas.h5" -o "$D/synth" --set dialogues=12 >/dev/null
"$TR" -q data ingest "$D/synth/train" "$D/synth/validation" "$D/synth/test" \
    --keyring "$D/synth/keyring.yaml" --revocations "$D/synth/revocations" --purpose training \
    --territory GB --allow-synthetic --at 2026-11-23T12:00:00Z -o "$D/corpus" >/dev/null
"$TR" -q train configs/train/default.yaml --set data.corpus="$D/corpus" \
    --set data.personas="$D/personas.h5" --set output="$D/run" --set max_steps=1 \
    --set eval.every=0 >/dev/null
m="$D/synth/train/manifest.yaml"
pid=$(grep -m 1 '"persona_id"' "$m" | sed 's/.*"persona_id": "\([0-9]*\)".*/\1/')
ls "$D/synth/train/audio" | head -n 20 >"$D/wavs"
: >"$D/lat"
i=0
while read -r w; do
    i=$((i + 1))
    taskset -c 0 "$TR" generate --checkpoint "$D/run/checkpoints/last.h5" \
        --personas "$D/personas.h5" --persona "$pid" --audio "$D/synth/train/audio/$w" \
        --max-tokens 20 --seed "$i" 2>/dev/null |
        sed -n 's/^latency: first reply token \([0-9.]*\) ms.*/\1/p' >>"$D/lat"
done <"$D/wavs"
sort -n "$D/lat" >"$D/lat.sorted"
n=$(wc -l <"$D/lat.sorted")
p50=$(sed -n "$(((n + 1) / 2))p" "$D/lat.sorted")
p95=$(sed -n "$(((n * 95 + 99) / 100))p" "$D/lat.sorted")
echo "== streaming latency, small, one core (taskset -c 0), $n runs"
echo "first reply token after the end of the audio: p50 $p50 ms, p95 $p95 ms (target p95 <= 50 ms;"
echo "claims elsewhere: StepAudio 2.5 < 300 ms, Moshi about 200 ms, end to end)"

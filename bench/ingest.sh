#!/bin/sh
# bench: ingest end to end (verify, hash, decode, downmix, resample, log-mel, write) on a
# signed batch of 300 ten-second 44.1 kHz stereo recordings (50 minutes of audio), with one
# thread and with all cores, and the audit alone (verify + hash + full decode check) to
# show where the time goes. Target: >= 1,000x real time per core.
# Usage: [EXTRA_RATE=16000 EXTRA_CHANNELS=1] bench/ingest.sh BUILD_DIR
set -eu
B=${1:-build}
T="$PWD/$B/troupe"
D=${BENCH_DIR:-/tmp/troupe-bench}/ingest
rm -rf "$D"
mkdir -p "$(dirname "$D")"
echo "== ingest bench on $(nproc) cores (${EXTRA_RATE:-44100} Hz, ${EXTRA_CHANNELS:-2} channel(s))"
EXTRA=${BENCH_RECORDINGS:-300} EXTRA_SECONDS=10 scripts/example-batch.sh "$D" "$B/troupe" >/dev/null
cd "$D"
audio=$(du -sb batch/audio | cut -f1)
args="batch --keyring keyring.yaml --revocations revocations --purpose training,paralinguistic_modelling --territory GB --at 2026-11-23T12:00:00Z"
run() { # label, threads, command...
    label=$1
    shift
    s=$(date +%s.%N)
    "$@" >/dev/null
    e=$(date +%s.%N)
    echo "$label $(echo "$e - $s" | bc)"
}
a=$(run audit env TROUPE_THREADS=1 "$T" data audit $args -o audit)
i1=$(run ingest1 "$T" data ingest $args -o corpus1 --threads 1)
i2=$(run ingest2 "$T" data ingest $args -o corpus2 --threads 2)
again=$(run again "$T" data ingest $args -o corpus2 --threads 2)
hours=$(sed -n 's/^  "hours": \([0-9.e-]*\),*$/\1/p' corpus1/index.json)
secs=$(echo "$hours * 3600" | bc -l)
show() { # label seconds threads
    printf '%-34s %7.2f s  %8.0fx real time  %8.0fx per core\n' "$1" "$2" \
        "$(echo "$secs / $2" | bc -l)" "$(echo "$secs / $2 / $3" | bc -l)"
}
printf 'batch: %s recordings, %.0f s of audio, %s MB of WAV\n' \
    "$(grep -c '^  "recording_id"' batch/manifest.yaml)" "$secs" $((audio / 1048576))
show "audit only (1 thread)" "${a#* }" 1
show "ingest, 1 thread" "${i1#* }" 1
show "ingest, 2 threads" "${i2#* }" 2
printf '%-34s %7.2f s  (nothing re-featurised)\n' "ingest again, unchanged" "${again#* }"

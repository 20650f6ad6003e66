#!/bin/sh
# make demo: runs every stage Troupe has today on the embedded default data, prints what
# each did, and ends with a summary of the outputs. Usage: scripts/demo.sh build/troupe
set -eu
TROUPE=${1:-build/troupe}
OUT=${DEMO_OUT:-demo-out}
step() { printf '\n== %s\n$ %s\n' "$1" "$2"; }

mkdir -p "$OUT"
t0=$(date +%s)

step "1. the tool and its libraries" "troupe --version"
"$TROUPE" --version

step "2. check the shipped archetype roles" "troupe persona validate"
"$TROUPE" persona validate

# persona author refuses to overwrite: a fresh run starts from a fresh folder.
rm -rf "$OUT/roles"
step "3. compose the authored role set" "troupe persona author -o $OUT/roles"
"$TROUPE" persona author -o "$OUT/roles"
"$TROUPE" persona validate "$OUT/roles"

step "4. expand the roles into the persona matrix" \
    "troupe persona build --roles $OUT/roles -o $OUT/personas.h5"
"$TROUPE" persona build --roles "$OUT/roles" -o "$OUT/personas.h5"

step "5. what the matrix holds" "troupe persona stats $OUT/personas.h5"
"$TROUPE" persona stats "$OUT/personas.h5" > "$OUT/persona-stats.txt"
"$TROUPE" persona stats --json "$OUT/personas.h5" > "$OUT/persona-stats.json"
head -n 9 "$OUT/persona-stats.txt"
echo "(per-feature distributions: $OUT/persona-stats.txt)"

step "6. one row, and its nearest neighbours over the whole matrix" \
    "troupe persona show $OUT/personas.h5 '#0'; troupe persona similar $OUT/personas.h5 '#0' -k 5"
"$TROUPE" persona show "$OUT/personas.h5" '#0' | head -n 4
"$TROUPE" persona similar "$OUT/personas.h5" '#0' -k 5

rows=$(sed -n 's/^.*: \([0-9]*\) rows x.*/\1/p' "$OUT/persona-stats.txt" | head -n 1)
roles=$(ls "$OUT/roles" | wc -l)
printf '\n== summary (%ss)\n' "$(( $(date +%s) - t0 ))"
echo "authored roles:   $OUT/roles/ ($roles role files, from configs/personas/archetypes/)"
echo "persona matrix:   $OUT/personas.h5 ($rows rows; h5dump -H $OUT/personas.h5)"
echo "matrix stats:     $OUT/persona-stats.txt, $OUT/persona-stats.json"
echo "stages not built yet: data ingest, training, RLHF, eval (see the issues)"

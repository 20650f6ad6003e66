#!/bin/sh
# The worked example of docs/governance.md: a licensor produces and signs a licensed batch
# with troupe alone (plus espeak-ng and sox for the audio), and a trainer ingests it.
# Usage: scripts/example-batch.sh OUT [TROUPE]   (OUT must not exist)
# EXTRA=N adds N more recordings of EXTRA_SECONDS (default 10) s each of pink noise plus a
# tone, at EXTRA_RATE Hz (44100) with EXTRA_CHANNELS (2); bench/ingest.sh uses them.
set -eu
OUT=$1
T=${2:-build/troupe}
case "$T" in /*) ;; *) T="$PWD/$T" ;; esac
[ -e "$OUT" ] && { echo "example-batch: $OUT exists" >&2; exit 2; }
mkdir -p "$OUT/keys" "$OUT/revocations" "$OUT/batch/audio" "$OUT/batch/consent/forms" \
    "$OUT/batch/licences"
cd "$OUT"
say() { printf '\n$ %s\n' "$*"; }

# 1. Keys: the licensor and the curator sign manifests, the controller signs consent
#    records and revocation lists. The verifier's keyring lists the public halves.
for who in licensor:licensor curator:curator controller:controller; do
    name=${who%%:*}
    say troupe data keygen --owner "Example Voices $name" --roles "${who#*:}" -o "keys/$name" \
        --valid-from 2026-01-01T00:00:00Z --valid-until 2028-01-01T00:00:00Z
    "$T" data keygen --owner "Example Voices $name" --roles "${who#*:}" -o "keys/$name" \
        --valid-from 2026-01-01T00:00:00Z --valid-until 2028-01-01T00:00:00Z
done
{ echo 'schema: "troupe.keyring/1"'; echo 'keys:'; cat keys/*.pub.yaml; } > keyring.yaml

# 2. Audio: three speakers, one utterance each (espeak-ng, 22.05 kHz 16-bit WAV).
speak() { espeak-ng -v "$1" -s "$2" -w "batch/audio/$3.wav" "$4"; }
speak en-us 160 utt-001 "Hello! Could you help me reset my router?"
speak en-gb 140 utt-002 "Of course. Let's take it one step at a time."
speak cmn 150 utt-003 "我们一步一步来。"
EXTRA=${EXTRA:-0}
i=0
while [ "$i" -lt "$EXTRA" ]; do
    sox -q -n -r "${EXTRA_RATE:-44100}" -c "${EXTRA_CHANNELS:-2}" -b 16 "batch/audio/x-$i.wav" \
        synth "${EXTRA_SECONDS:-10}" \
        pinknoise sine $((200 + i)) vol 0.3
    i=$((i + 1))
done

# 3. Texts the batch refers to by hash: the consent form and the licence.
printf 'I agree that recordings of my voice may be used to train speech models.\n' \
    > batch/consent/forms/form-en-v1.txt
printf 'Example Voices voice licence v1: training of speech models permitted.\n' \
    > batch/licences/LicenseRef-Example-Voice-1.txt
h() { "$T" data hash "$1" | sed 's/^sha256: "\([0-9a-f]*\)".*/\1/'; }
b() { "$T" data hash "$1" | sed 's/.*bytes: "\([0-9]*\)".*/\1/'; }

# 4. One consent record per speaker, signed by the controller.
for s in a b c; do
    cat > "batch/consent/cons-$s.yaml" <<YAML
schema: "troupe.consent/1"
consent_id: "cons-$s"
subject: "spk-$s"
created_at: "2026-01-10T09:00:00Z"
status: "given"
status_history: [{status: "given", at: "2026-01-10T09:00:00Z"}]
legal_basis: "consent"
method: "signed_form"
form: {id: "form-en-v1", language: "en", path: "consent/forms/form-en-v1.txt", sha256: "$(h batch/consent/forms/form-en-v1.txt)"}
signatory: "subject"
subject_is_minor: "false"
guardian_ref: null
representation: "union"
compensation_ref: "PAY-2026-$s"
scope:
  purposes_allowed: ["training", "paralinguistic_modelling", "evaluation"]
  purposes_prohibited: ["voice_cloning", "speaker_identification"]
  digital_replica: {allowed: "false", description: null}
  biometric: {allowed: "false", legal_basis: null}
  commercial: "true"
  territory_include: ["GB", "US", "CN"]
  territory_exclude: []
  term_start: "2026-01-01T00:00:00Z"
  term_end: "2029-12-31T00:00:00Z"
  on_expiry: "no new training; models trained before expiry may be kept"
revocation: {revocable: "true", channel: "privacy@example-voices.test", effect_on_models: "exclude from the next training run"}
YAML
    "$T" data canon "batch/consent/cons-$s.yaml" -o "batch/consent/cons-$s.yaml"
    "$T" data sign "batch/consent/cons-$s.yaml" --key keys/controller.secret >/dev/null
done

# 5. The manifest: every file by hash, then the Merkle root, canonical form, two signatures.
# One `data hash` over all audio, looked up per recording (bench batches have hundreds).
audio_info() { # file -> "sha bytes rate channels bits samples"
    line=$(grep " $1\$" hashes.txt)
    set -- $line "$1"
    sha=$(echo "$2" | tr -d '"')
    bytes=$(echo "$4" | tr -d '"')
    case "$5" in
    */x-*) echo "$sha $bytes ${EXTRA_RATE:-44100} ${EXTRA_CHANNELS:-2} 16 $((${EXTRA_RATE:-44100} * ${EXTRA_SECONDS:-10}))" ;;
    *) echo "$sha $bytes $(soxi -r "$5") $(soxi -c "$5") $(soxi -b "$5") $(soxi -s "$5")" ;;
    esac
}
rec() { # id file speaker text language emotion
    f=batch/audio/$2.wav
    set -- "$@" $(audio_info "$f")
    tsha=$(printf '%s' "$4" | sha256sum | cut -d' ' -f1)
    cat <<YAML
  - recording_id: "$1"
    path: "audio/$2.wav"
    media_type: "audio/wav"
    bytes: "${10}"
    sha256: "${9}"
    sample_rate: "${11}"
    channels: "${12}"
    bit_depth: "${13}"
    duration_samples: "${14}"
    speaker_id: "spk-$3"
    consent_id: "cons-$3"
    licence: "LicenseRef-Example-Voice-1"
    contract_id: "EV-2026-01"
    collection_method: "licensed_voice_actor"
    digital_source_type: "digitalCapture"
    recorded_at: "2026-02-10T10:00:00Z"
    recorded_in: "GB"
    language: "$5"
    transcript: {text: "$4", source: "script", sha256: "$tsha"}
    labels: [{label: "emotion:$6", start_sample: "0", end_sample: "${14}", annotator: "ann-07", method: "human"}]
    dialogue: {dialogue_id: "dlg-001", turn: "$7", persona_id: "asst-calm-tech", history: "", response: "$8"}
YAML
}
lic_sha=$(h batch/licences/LicenseRef-Example-Voice-1.txt)
"$T" data hash batch/audio/*.wav > hashes.txt
manifest() { # merkle_root
    cat <<YAML
schema: "troupe.manifest/1"
manifest_id: "example-voices-2026-01"
manifest_version: "1.0.0"
created_at: "2026-03-01T00:00:00Z"
producer: {organisation: "Example Voices", role: "licensor"}
controller: {organisation: "Example Voices", jurisdiction: "GB"}
batch:
  title: "Example Voices: support dialogues, batch 1"
  collection_method: "licensed_voice_actor"
  collection_start: "2026-02-01T00:00:00Z"
  collection_end: "2026-02-28T00:00:00Z"
  languages: ["en", "zh"]
  taxonomy: {id: "troupe.paralinguistic", version: "1"}
licences:
  - {id: "LicenseRef-Example-Voice-1", path: "licences/LicenseRef-Example-Voice-1.txt", sha256: "$lic_sha", use_class: "commercial"}
contracts:
  - {id: "EV-2026-01", sha256: "$lic_sha", term_start: "2026-01-01T00:00:00Z", term_end: "2029-12-31T00:00:00Z", territory_include: ["GB", "US", "CN"], territory_exclude: []}
training_mining_default: {ai_training: "allowed", ai_generative_training: "notAllowed", ai_inference: "allowed", data_mining: "notAllowed"}
consent_records:
YAML
    for s in a b c; do
        echo "  - {id: \"cons-$s\", path: \"consent/cons-$s.yaml\", sha256: \"$(h batch/consent/cons-$s.yaml)\"}"
    done
    echo "integrity: {merkle_root: \"$1\", record_count: \"$((3 + EXTRA))\"}"
    echo "recordings:"
    rec utt-001 utt-001 a "Hello! Could you help me reset my router?" en neutral 0 ""
    rec utt-002 utt-002 b "Of course. Let's take it one step at a time." en calm 1 ""
    rec utt-003 utt-003 c "我们一步一步来。" zh calm 2 ""
    i=0
    while [ "$i" -lt "$EXTRA" ]; do
        rec "x-$i" "x-$i" a "noise and a tone" en neutral 3 ""
        i=$((i + 1))
    done
}
manifest 0000000000000000000000000000000000000000000000000000000000000000 > batch/manifest.yaml
root=$("$T" data merkle batch/manifest.yaml | sed -n 's/^merkle_root: "\(.*\)"/\1/p')
manifest "$root" > batch/manifest.yaml
"$T" data canon batch/manifest.yaml -o batch/manifest.yaml
say troupe data sign batch/manifest.yaml --key keys/licensor.secret
"$T" data sign batch/manifest.yaml --key keys/licensor.secret
say troupe data sign batch/manifest.yaml --key keys/curator.secret
"$T" data sign batch/manifest.yaml --key keys/curator.secret

# 6. The controller's revocation list (empty so far), signed.
cat > revocations/example-voices.yaml <<YAML
schema: "troupe.revocations/1"
list_id: "example-voices-revocations"
issuer: "Example Voices"
sequence: "1"
this_update: "2026-03-01T00:00:00Z"
next_update: "2027-03-01T00:00:00Z"
previous_list_sha256: null
entries: []
YAML
"$T" data canon revocations/example-voices.yaml -o revocations/example-voices.yaml
"$T" data sign revocations/example-voices.yaml --key keys/controller.secret >/dev/null

say troupe data verify batch/manifest.yaml --keyring keyring.yaml --at 2026-03-01T00:00:00Z
"$T" data verify batch/manifest.yaml --keyring keyring.yaml --at 2026-03-01T00:00:00Z
echo
echo "example-batch: batch in $OUT/batch, keyring $OUT/keyring.yaml, revocations $OUT/revocations/"

#!/bin/sh
# Installs the Debian packages Troupe needs, and only those that are missing.
#
# Fast when everything is present (one dpkg-query call). As root it installs what is
# missing with a non-interactive apt-get, refreshing the package lists first when they
# are empty or the install fails for want of them; as another user it prints the exact
# command to run and exits 1.
set -u

PKGS="build-essential pkg-config
libopenblas-dev libhdf5-dev libsndfile1-dev libsamplerate0-dev libfftw3-dev
libsodium-dev libyaml-dev libjansson-dev libopenmpi-dev openmpi-bin
espeak-ng sox hdf5-tools gnuplot-nox"

# Extra packages asked for by the caller (the sanitizer run wants nothing more today,
# the clang build wants clang): TROUPE_EXTRA_PKGS="clang".
PKGS="$PKGS ${TROUPE_EXTRA_PKGS:-}"

# One dpkg-query for all: a package it does not know prints nothing, so compare lists.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $PKGS 2>/dev/null |
    awk '$2 == "installed" { print $1 }')
missing=""
for p in $PKGS; do
    echo "$installed" | grep -qx -- "$p" || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "deps: missing Debian packages:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -q --no-install-recommends $missing >/tmp/troupe-deps.log 2>&1
}
# An image with emptied package lists cannot install anything: refresh first.
if [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ]; then
    apt-get update -q >/tmp/troupe-deps-update.log 2>&1 ||
        { echo "deps: apt-get update failed, see /tmp/troupe-deps-update.log" >&2; exit 1; }
fi
if ! apt_install; then
    apt-get update -q >/tmp/troupe-deps-update.log 2>&1 ||
        { echo "deps: apt-get update failed, see /tmp/troupe-deps-update.log" >&2; exit 1; }
    apt_install || { echo "deps: apt-get install failed, see /tmp/troupe-deps.log" >&2; exit 1; }
fi
echo "deps: installed$missing" >&2

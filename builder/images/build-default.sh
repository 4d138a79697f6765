#!/bin/sh
# builder/images/build-default.sh: run by store.ts through the fleet host's transport as `sh -c`.
# Builds the default image (what `machine:` jobs and jobs with no image run on) from Debian's
# packages with mmdebstrap, and imports it into the store's OCI layout as a local image.
#
# $1 store dir, $2 suite, $3 ref key (store.ts: the name's file name), $4 the image's name,
# $5 cache dir for the root filesystem tarball, $6 mirror URI (`-`: the one this host's apt uses),
# $7 packages (comma-separated, on top of mmdebstrap's minbase).
# Prints `key=value` lines: `tarball=cached|built`, `mirror=`, `digest=`.
#
set -u
dir=$1 suite=$2 key=$3 name=$4 cache=$5 mirror=$6 packages=$7
umask 022
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is not installed (apt-get install mmdebstrap)"; exit 1; }
if [ "$mirror" = - ]; then
  # The host's own Debian archive: the first non-security URI of its sources (deb822 or one-line).
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *\([^ ]*\).*/\1/p' | grep -v security | head -n 1)
  [ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' | grep -v security | head -n 1)
  [ -n "$mirror" ] || { echo "no Debian mirror in /etc/apt/sources.list{,.d}: pass --mirror URI"; exit 1; }
fi
echo "mirror=$mirror"
mkdir -p "$cache" "$dir/local" || exit 1
arch=$(dpkg --print-architecture)
# The tarball is keyed by what goes into it: a new package list or mirror makes a new one.
tar=$cache/debian-$suite-$arch-$(printf '%s\n' 1 "$suite" "$arch" "$mirror" "$packages" | sha256sum | cut -c1-16).tar
if [ -f "$tar" ]; then
  echo "tarball=cached"
else
  err=$(mktemp)
  mmdebstrap --quiet --variant=minbase --include="$packages" --skip=output/dev --format=tar \
    "$suite" "$tar.tmp" "deb $mirror $suite main" 2>"$err" \
    || { echo "mmdebstrap failed: $(tail -n 5 "$err")"; rm -f "$err" "$tar.tmp"; exit 1; }
  rm -f "$err"
  mv "$tar.tmp" "$tar" || exit 1
  echo "tarball=built"
fi
exec 9>"$dir/.lock" && flock 9 || { echo "cannot lock $dir/.lock"; exit 1; }
oci=$dir/oci tmp=build-$$
[ -f "$oci/index.json" ] || umoci init --layout "$oci" || exit 1
# Dates from the tarball: the same tarball imports as the same digest.
created=$(date -u -d "@$(stat -c %Y "$tar")" +%Y-%m-%dT%H:%M:%SZ)
umoci new --image "$oci:$tmp" \
  && umoci raw add-layer --history.created "$created" --history.created_by "mmdebstrap $suite +$packages" \
    --image "$oci:$tmp" "$tar" \
  && umoci config --no-history --image "$oci:$tmp" --created "$created" --author cairn \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.cmd /bin/bash --config.label "org.opencontainers.image.title=$name" \
  || { umoci rm --image "$oci:$tmp" 2>/dev/null; exit 1; }
m=$(skopeo inspect --format '{{.Digest}}' "oci:$oci:$tmp") || exit 1
# Tagged `local-<hex>`: the collector removes pulled tags only, so a rebuilt rootfs needs no rebuild here.
umoci tag --image "$oci:$tmp" "local-${m#sha256:}" && umoci rm --image "$oci:$tmp" || exit 1
umoci gc --layout "$oci" 2>/dev/null
echo "$m $name" >"$dir/local/$key" || exit 1
echo "$name" >"$dir/default-image" || exit 1
echo "digest=$m"
exit 0

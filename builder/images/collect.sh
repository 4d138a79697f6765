#!/bin/sh
# builder/images/collect.sh: run by store.ts through the fleet host's transport as `sh -c`.
#
# $1 store dir, $2 lxcpath, $3 budget (bytes), $4 grace (s: a rootfs used this recently stays,
# it may be about to be cloned), then digests this builder holds. Evicts least recently used
# rootfs until the rest fit; a rootfs any container's config names is in use and never evicted.
# Prints each evicted digest.
#
set -u
dir=$1 lxcpath=$2 budget=$3 grace=$4; shift 4
[ -d "$dir/bundles" ] || exit 0
exec 9>"$dir/.lock" && flock 9 || exit 1
now=$(date +%s) total=0 list=$(mktemp)
trap 'rm -f "$list"' EXIT
for b in "$dir"/bundles/*/cairn-ready; do
  [ -f "$b" ] || continue; b=${b%/cairn-ready}
  size=$(cat "$b/cairn-size" 2>/dev/null || echo 0); total=$((total + size))
  echo "$(stat -c %.9Y "$b/cairn-used" 2>/dev/null || echo 0) $size ${b##*/} $(cat "$b/cairn-digest")" >>"$list"
done
[ "$total" -le "$budget" ] && exit 0
sort -n "$list" | while read -r used size t digest; do
  [ "$total" -le "$budget" ] && break
  held=0; for d in "$@"; do [ "$d" = "$digest" ] && held=1; done
  [ $held = 1 ] && continue
  [ $((now - ${used%.*})) -lt "$grace" ] && continue
  # In use: some container other than the template itself has this rootfs as its lower layer.
  grep -lsF "$dir/bundles/$t/rootfs" "$lxcpath"/*/config | grep -vqx "$lxcpath/$t/config" && continue
  rm -rf "${lxcpath:?}/$t" "${dir:?}/bundles/$t"
  for f in "$dir"/tops/*; do
    [ -f "$f" ] && [ "$(cat "$f")" = "$digest" ] && { umoci rm --image "$dir/oci:${f##*/}" 2>/dev/null; rm -f "$f" "$dir/access/${f##*/}"; }
  done
  total=$((total - size))
  echo "$digest"
done
umoci gc --layout "$dir/oci" 2>/dev/null
exit 0

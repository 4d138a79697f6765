#!/bin/sh
# builder/images/prepare.sh: run by store.ts through the fleet host's transport as `sh -c`.
#
# $1 store dir, $2 `registry/repository` to pull from, $3 tag or digest, $4 ref key (file name),
# $5 seconds a resolved tag is trusted, $6 `tls`|`insecure`, $7 `auth` (an auth file on stdin) or
# `-`, $8 lxcpath, $9 base template whose config the image template copies, $10 skopeo timeout,
# $11 seconds a `public` access mark is trusted.
# Prints `key=value` lines, then `--- config.json` and the umoci runtime config, then
# `--- passwd` and the image's /etc/passwd, then `--- image` and its OCI config (Entrypoint, Cmd).
# Exit 10: the registry refused (its words on stdout).
#
# access/<top>: `public <time>` when this builder pulled the image without credentials, or could
# have, at <time>; `auth` when it needed them. A cached image not known to be public is used only
# once the registry has accepted this job's own credentials for it (a manifest request, no layers),
# and never on a stale resolution: one job's credentials never open the cache to another's.
# A `public` mark older than $11 seconds is asked about again (its manifest, without credentials)
# before the cache serves it, and so is the mark of a tag whose re-resolution failed: refused now,
# the image is `auth` from then on (and `public` again once a request without credentials passes).
# A registry that cannot be asked (no answer, TLS, a timeout, a server error, a rate limit) leaves
# the mark as it was: a public image is then served, with the registry's words (`unasked=`), as a
# tag's stale resolution is.
#
set -u
dir=$1 repo=$2 want=$3 key=$4 ttl=$5 tls=$6 auth=$7 lxcpath=$8 base=$9 timeout=${10} pttl=${11}
umask 022
mkdir -p "$dir/refs" "$dir/tops" "$dir/access" "$dir/bundles" || exit 1
# An unprivileged container's root (a subordinate host uid) must reach its rootfs: search, not read.
chmod o+x "$dir" "$dir/bundles" || exit 1
exec 9>"$dir/.lock" && flock 9 || { echo "cannot lock $dir/.lock"; exit 1; }
oci=$dir/oci err=$(mktemp) err2=$(mktemp) authfile="" asked="" mark="" unasked=""
trap 'rm -f "$err" "$err2"' EXIT
if [ "$auth" = auth ]; then authfile=$(mktemp) && chmod 600 "$authfile" && cat >"$authfile" || exit 1
  trap 'rm -f "$err" "$err2" "$authfile"' EXIT; fi
words() { sed -n 's/.*msg="\(.*\)"$/\1/p; t; p' "$1" | tail -n 3; }
registry() { echo "registry: $(words "$err")"; exit 10; }
# skopeo's error ($1) says the registry could not be asked: no answer, TLS, a timeout, a server error
# or a rate limit. Anything else it answered (unauthorized, denied, manifest unknown) is a refusal.
unreachable() { grep -qiE 'connection refused|connection reset|no such host|no route to host|network is unreachable|i/o timeout|deadline exceeded|timeout|server misbehaving|unexpected EOF|tls: |x509: |toomanyrequests|too many requests|(status|status code from registry):? 5[0-9][0-9]' "$1"; }
sk() { verb=$1; shift; set -- --command-timeout "$timeout" "$verb" "$@"
  [ "$tls" = insecure ] && { [ "$verb" = copy ] && set -- "$@" --src-tls-verify=false || set -- "$@" --tls-verify=false; }
  [ -n "$authfile" ] && { [ "$verb" = copy ] && set -- "$@" --src-authfile "$authfile" || set -- "$@" --authfile "$authfile"; }
  skopeo "$@"; }
# As a job with no credentials of its own would ask.
anon() { a=$authfile; authfile=""; sk "$@"; r=$?; authfile=$a; return $r; }
# Sets $mark to `public` or `auth` for $top. The registry is asked (the manifest, as a job with no
# credentials) for an image cached before marks existed, for a `public` mark older than $pttl
# seconds, and with `again`. Refused: `auth`. Not asked: a `public` mark stands ($unasked: the
# registry's words); an unmarked image is `auth`.
access() { f=$dir/access/${top#sha256:} mark="" mat=0
  [ -f "$f" ] && read -r mark mat <"$f"
  case $mark in public|auth) ;; *) mark="" ;; esac
  case $mat in ''|*[!0-9]*) mat=0 ;; esac
  if [ -z "$mark" ] || { [ "$mark" = public ] && { [ "${1:-}" = again ] || [ $((now - mat)) -ge "$pttl" ]; }; }; then
    if anon inspect --raw "docker://$repo@$top" >/dev/null 2>"$err2"; then mark=public; echo "public $now" >"$f"
    elif [ "$mark" = public ] && unreachable "$err2"; then unasked=$(words "$err2" | head -n 1)
    else mark=auth; echo auth >"$f"; fi
  fi; }
[ -f "$oci/index.json" ] || umoci init --layout "$oci" || exit 1
now=$(date +%s) stale=""
local=""
case $want in
sha256:*) top=$want ;;
*)
  # A local image (build-default.sh made it here) is the name's only source: no registry is asked.
  if [ -f "$dir/local/$key" ]; then read -r top _ <"$dir/local/$key"; local=1; else
  top="" at=0
  [ -f "$dir/refs/$key" ] && read -r top at <"$dir/refs/$key"
  if [ -z "$top" ] || [ $((now - at)) -ge "$ttl" ]; then
    if new=$(sk inspect --format '{{.Digest}}' "docker://$repo:$want" 2>"$err"); then
      top=$new asked=1; echo "$top $now" >"$dir/refs/$key"
      # Resolved as a job with no credentials: its manifest is public now.
      [ -z "$authfile" ] && [ -f "$dir/access/${top#sha256:}" ] && echo "public $now" >"$dir/access/${top#sha256:}"
    # The digest it had, if the registry still serves it to anyone or cannot be asked.
    elif [ -n "$top" ] && { access again; [ "$mark" = public ]; }; then stale=$(registry | head -n 1)
    else registry; fi
  fi; fi ;;
esac
echo "top=$top"
[ -n "$stale" ] && echo "stale=$stale"
# A bundle is named as its template: LXC clones only a rootfs whose path holds the container's name.
# Named after the store too, so two stores on one host (two builders, test runs) never share one.
# The base template's id map (unprivileged containers): the rootfs is unpacked shifted into it, so
# the container's root owns what the image's root owns. Part of the bundle's name: a map change
# makes new bundles.
umap=$(sed -n 's/^lxc\.idmap *= *u 0 \([0-9]*\) \([0-9]*\) *$/0:\1:\2/p' "$lxcpath/$base/config" 2>/dev/null | head -n 1)
gmap=$(sed -n 's/^lxc\.idmap *= *g 0 \([0-9]*\) \([0-9]*\) *$/0:\1:\2/p' "$lxcpath/$base/config" 2>/dev/null | head -n 1)
tname() { echo "cairnimg-$(printf '%s %s %s %s' "$dir" "$1" "$umap" "$gmap" | sha256sum | cut -c1-16)"; }
m=""; [ -f "$dir/tops/${top#sha256:}" ] && m=$(cat "$dir/tops/${top#sha256:}")
[ -n "$local" ] && m=$top
b=$dir/bundles/$(tname "$m")
if [ -n "$m" ] && [ -f "$b/cairn-ready" ]; then
  # Just resolved with this job's credentials, or public: the cache is the job's to use.
  if [ -z "$local" ] && [ -z "$asked" ]; then
    [ -n "$mark" ] || access
    if [ "$mark" != public ]; then
      sk inspect --raw "docker://$repo@$top" >/dev/null 2>"$err" || registry
      # Served to a job with no credentials: public (again).
      [ -n "$authfile" ] || echo "public $now" >"$dir/access/${top#sha256:}"
      echo "checked=1"
    fi
    [ -z "$unasked" ] || [ -n "$stale" ] || echo "unasked=$unasked"
  fi
  echo "cached=1"
else
  before=$(du -sb "$oci/blobs" | cut -f1)
  name=${top#sha256:}
  if [ -n "$local" ]; then name=local-$name
    skopeo inspect --raw "oci:$oci:$name" >/dev/null 2>&1 \
      || { echo "the local image $repo ($top) is gone from $oci: build it again (cairn-builder image build-default)"; exit 1; }
  else sk copy --quiet "docker://$repo@$top" "oci:$oci:$name" >/dev/null 2>"$err" || registry
    if [ -z "$authfile" ] || anon inspect --raw "docker://$repo@$top" >/dev/null 2>&1; then echo "public $now"; else echo auth; fi >"$dir/access/$name"
  fi
  echo "bytes=$(( $(du -sb "$oci/blobs" | cut -f1) - before ))"
  m=$(skopeo inspect --format '{{.Digest}}' "oci:$oci:$name") || exit 1
  b=$dir/bundles/$(tname "$m")
  if [ ! -f "$b/cairn-ready" ]; then
    rm -rf "$b.tmp" "$b"
    umoci unpack ${umap:+--uid-map "$umap"} ${gmap:+--gid-map "$gmap"} --image "$oci:$name" "$b.tmp" >/dev/null 2>"$err" \
      || { echo "umoci unpack failed: $(cat "$err")"; rm -rf "$b.tmp"; exit 1; }
    # PID 1 for any image, even one with no shell: the host's static busybox, kept out of the way.
    mkdir -p "$b.tmp/rootfs/.cairn" "$b.tmp/rootfs/tmp" && cp /bin/busybox "$b.tmp/rootfs/.cairn/busybox" || exit 1
    printf '%s\n' "trap 'exit 0' TERM INT PWR" "/.cairn/busybox ip link set lo up 2>/dev/null" \
      'while :; do /.cairn/busybox sleep 3600 & wait; done' >"$b.tmp/rootfs/.cairn/init"
    chmod 0711 "$b.tmp" || exit 1  # umoci makes the bundle 0700
    # What was added here belongs to the container's root too.
    [ -z "$umap" ] || { u=${umap#0:}; g=${gmap#0:}
      chown -h "${u%%:*}:${g%%:*}" "$b.tmp/rootfs/.cairn" "$b.tmp/rootfs/.cairn/busybox" "$b.tmp/rootfs/.cairn/init" || exit 1
      [ "$(stat -c %u "$b.tmp/rootfs/tmp")" = 0 ] && { chown -h "${u%%:*}:${g%%:*}" "$b.tmp/rootfs/tmp"; chmod 1777 "$b.tmp/rootfs/tmp"; }; }
    # Entrypoint and Cmd apart (umoci's config.json joins them): a service's `command` replaces Cmd only.
    skopeo inspect --config "oci:$oci:$name" >"$b.tmp/cairn-image-config.json" 2>/dev/null || rm -f "$b.tmp/cairn-image-config.json"
    du -sb "$b.tmp/rootfs" | cut -f1 >"$b.tmp/cairn-size"
    echo "$repo" >"$b.tmp/cairn-repository"
    echo "$m" >"$b.tmp/cairn-digest"
    : >"$b.tmp/cairn-ready"
    mv "$b.tmp" "$b" || exit 1
  fi
  [ -n "$local" ] || echo "$m" >"$dir/tops/$name"
fi
[ -n "$local" ] && echo "local=1"
echo "digest=$m"
touch "$b/cairn-used"
t=$(tname "$m")
echo "template=$t"
if [ ! -f "$lxcpath/$t/config" ]; then
  [ -f "$lxcpath/$base/config" ] || { echo "base template $base does not exist in $lxcpath (run scripts/lxc-base-template.sh)"; exit 1; }
  mkdir -p "$lxcpath/$t" && {
    echo "# Cairn image template for $repo@$m (builder/images)"
    grep -vE '^lxc\.(rootfs\.path|uts\.name|init\.cmd|mount\.entry *= */)' "$lxcpath/$base/config"
    echo "lxc.uts.name = $t"
    echo "lxc.rootfs.path = dir:$b/rootfs"
    echo "lxc.init.cmd = /.cairn/busybox sh /.cairn/init"
  } >"$lxcpath/$t/config.tmp" && mv "$lxcpath/$t/config.tmp" "$lxcpath/$t/config" || exit 1
fi
echo "--- config.json"
cat "$b/config.json"
echo
echo "--- passwd"
cat "$b/rootfs/etc/passwd" 2>/dev/null
echo
echo "--- image"
cat "$b/cairn-image-config.json" 2>/dev/null
exit 0

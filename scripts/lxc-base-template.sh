#!/bin/sh
# Creates the LXC base template `cairn-base` that every build's ephemeral clone starts from,
# without downloading anything: its rootfs binds the host's /usr (and /bin, /lib... when the
# host is not usrmerged) read-only, copies the few /etc files programs need, and keeps /tmp,
# /root, /home and /var private. No network (lxc.net.0.type = empty: loopback only).
#
# Usage (as root on the fleet host):  sh scripts/lxc-base-template.sh [--force]
#   CAIRN_TEMPLATE  template name (default cairn-base)
#   LXC_PATH        lxcpath (default: `lxc-config lxc.lxcpath`, usually /var/lib/lxc)
# Idempotent: when the template already matches what this script would write, it says so and
# changes nothing. --force rebuilds it anyway. See docs/fleet-host.md.
set -eu
# The rootfs must be readable by the container's users whatever umask the caller had.
umask 022

# Bumped whenever the layout below changes, so older templates get rebuilt on the next run.
TEMPLATE_VERSION=2
NAME="${CAIRN_TEMPLATE:-cairn-base}"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say() { printf 'lxc-base-template: %s\n' "$*"; }
die() { printf 'lxc-base-template: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (privileged LXC containers)"
for tool in lxc-info lxc-config lxc-copy lxc-attach; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: apt-get install -y lxc"
done

LXCPATH="${LXC_PATH:-$(lxc-config lxc.lxcpath)}"
DIR="$LXCPATH/$NAME"
ROOTFS="$DIR/rootfs"
MARKER="$ROOTFS/.cairn-template"

# Test runs and provisioning may call this at the same time: one at a time builds.
if command -v flock >/dev/null 2>&1; then
  mkdir -p /run/lock
  exec 9>"/run/lock/cairn-template-$NAME.lock"
  flock 9
fi

# --- the config we want, built in a temp file so we can compare before touching anything ---
WANT=$(mktemp)
trap 'rm -f "$WANT"' EXIT
{
  echo "# Cairn CI base template v$TEMPLATE_VERSION, written by scripts/lxc-base-template.sh"
  [ -f /usr/share/lxc/config/common.conf ] && echo "lxc.include = /usr/share/lxc/config/common.conf"
  echo "lxc.uts.name = $NAME"
  echo "lxc.rootfs.path = dir:$ROOTFS"
  # A network namespace with only loopback: builds reach neither the host nor any network.
  echo "lxc.net.0.type = empty"
  # Builds never need to mount: without CAP_SYS_ADMIN a privileged container cannot remount the
  # host's /usr read-write (there may be no AppArmor to stop it).
  echo "lxc.cap.drop = sys_admin sys_boot sys_module sys_rawio sys_time mac_admin mac_override"
  echo "lxc.autodev = 1"
  echo "lxc.init.cmd = /cairn-init"
  # usrmerge: /bin, /lib... are symlinks into /usr on current Debian; bind them only where real.
  for d in bin sbin lib lib32 lib64 libx32; do
    if [ -d "/$d" ] && [ ! -L "/$d" ]; then
      echo "lxc.mount.entry = /$d $d none ro,bind,create=dir 0 0"
    fi
  done
  echo "lxc.mount.entry = /usr usr none ro,bind,create=dir 0 0"
  # Follow the host's alternatives, CA bundle and linker cache as they are updated.
  echo "lxc.mount.entry = /etc/alternatives etc/alternatives none ro,bind,create=dir,optional 0 0"
  echo "lxc.mount.entry = /etc/ssl etc/ssl none ro,bind,create=dir,optional 0 0"
  echo "lxc.mount.entry = /etc/ld.so.cache etc/ld.so.cache none ro,bind,create=file,optional 0 0"
  echo "lxc.mount.entry = tmpfs tmp tmpfs rw,nosuid,nodev,mode=1777 0 0"
} >"$WANT"

if [ "$FORCE" = 0 ] && [ -f "$DIR/config" ] && cmp -s "$WANT" "$DIR/config" \
  && [ "$(cat "$MARKER" 2>/dev/null)" = "$TEMPLATE_VERSION" ]; then
  say "template $NAME at $DIR is up to date (v$TEMPLATE_VERSION); nothing to do"
  exit 0
fi

if lxc-info -n "$NAME" -P "$LXCPATH" -s 2>/dev/null | grep -q RUNNING; then
  die "template $NAME is running; stop it first (lxc-stop -k -n $NAME)"
fi

say "building template $NAME at $DIR (v$TEMPLATE_VERSION)"
mkdir -p "$ROOTFS"
chmod 0755 "$DIR" "$ROOTFS"

# Mount points and private writable directories (the clone's overlay keeps writes per build).
for d in usr etc tmp root home var var/tmp var/log var/cache var/lib run dev proc sys mnt opt srv; do
  mkdir -p "$ROOTFS/$d"
done
chmod 0700 "$ROOTFS/root"
chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp"
for d in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$d" ]; then
    rm -rf "${ROOTFS:?}/$d"
    ln -s "$(readlink "/$d")" "$ROOTFS/$d"
    say "  /$d -> $(readlink "/$d") (usrmerge symlink)"
  elif [ -d "/$d" ]; then
    rm -f "$ROOTFS/$d"
    mkdir -p "$ROOTFS/$d"
    say "  /$d bound read-only"
  fi
done
say "  /usr bound read-only"

# The /etc files programs expect. Copied, not bound: the host's shadow, ssh keys and the rest of
# /etc stay out of reach.
for f in passwd group nsswitch.conf ld.so.conf profile bash.bashrc environment shells \
  localtime timezone protocols services mime.types inputrc gitconfig login.defs \
  ca-certificates.conf host.conf; do
  if [ -e "/etc/$f" ] || [ -L "/etc/$f" ]; then
    rm -rf "${ROOTFS:?}/etc/$f"
    cp -a "/etc/$f" "$ROOTFS/etc/$f"
  fi
done
for d in ld.so.conf.d profile.d; do
  if [ -d "/etc/$d" ]; then
    rm -rf "${ROOTFS:?}/etc/$d"
    cp -a "/etc/$d" "$ROOTFS/etc/$d"
  fi
done
mkdir -p "$ROOTFS/etc/alternatives" "$ROOTFS/etc/ssl"
: >"$ROOTFS/etc/ld.so.cache"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
echo "$NAME" >"$ROOTFS/etc/hostname"
echo "# no network in Cairn build containers" >"$ROOTFS/etc/resolv.conf"
say "  /etc: passwd, group, nsswitch, profile... copied; alternatives, ssl, ld.so.cache bound"

# PID 1: brings loopback up (builds may serve on 127.0.0.1 inside), sleeps forever, reaps
# orphaned build processes (the shell's wait collects any child), exits cleanly on SIGTERM.
cat >"$ROOTFS/cairn-init" <<'EOF'
#!/bin/sh
trap 'exit 0' TERM INT PWR
ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || true
while :; do
  sleep 3600 &
  wait
done
EOF
chmod 0755 "$ROOTFS/cairn-init"

cp "$WANT" "$DIR/config"
echo "$TEMPLATE_VERSION" >"$MARKER"
say "wrote $DIR/config"

# Prove the template works: an ephemeral clone must start and run the tools builds rely on.
# Not `cairn-*`: a builder's orphan reaper on this host must not take the probe for a leftover.
PROBE="verify-$NAME-$$"
say "verifying with an ephemeral clone $PROBE"
cleanup_probe() { lxc-stop -k -n "$PROBE" -P "$LXCPATH" >/dev/null 2>&1 || true; }
trap 'rm -f "$WANT"; cleanup_probe' EXIT
if ! lxc-copy -n "$NAME" -N "$PROBE" -P "$LXCPATH" -e -B overlay >/dev/null; then
  cleanup_probe
  die "lxc-copy -e of $NAME failed; see the messages above"
fi
if ! lxc-wait -n "$PROBE" -P "$LXCPATH" -s RUNNING -t 15; then
  cleanup_probe
  die "ephemeral clone $PROBE did not reach RUNNING"
fi
missing=""
for tool in sh bash git tar cat; do
  if ! lxc-attach -n "$PROBE" -P "$LXCPATH" --clear-env -- /bin/sh -c "command -v $tool >/dev/null && $tool --version >/dev/null 2>&1 || [ $tool = sh ]"; then
    missing="$missing $tool"
  fi
done
cleanup_probe
[ -z "$missing" ] || die "tools missing or broken inside the template:$missing"
say "template $NAME is ready: sh, bash, git, tar, cat work inside an ephemeral clone"

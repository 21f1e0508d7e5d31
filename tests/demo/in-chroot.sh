#!/usr/bin/env bash
# Proves the README's demo command on a fresh Debian system: debootstrap a
# minimal bookworm (no busybox, no libseccomp, no compiler), clone this
# checkout into it and run `bash scripts/demo.sh` there, which must install
# what it needs itself. The host's Rust toolchain is lent read-only (machines
# of this kind come with it). Run as root; not part of CI (it takes minutes).
# Usage: tests/demo/in-chroot.sh [DIR]   (default: a new dir under /var/tmp)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
C=${1:-$(mktemp -d /var/tmp/hull-demo-chroot.XXXXXX)}
command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
[ -x "$C/usr/bin/apt-get" ] || debootstrap --variant=minbase bookworm "$C" >/dev/null
rm -rf "$C/root/hull"
git clone -q "$repo" "$C/root/hull"
cp /etc/resolv.conf "$C/etc/resolv.conf"
mkdir -p "$C/root/.cargo" "$C/root/.rustup"
# Everything below happens in a private mount namespace: nothing is left
# mounted on the host. A machine's / is a mount point, a bare chroot dir is
# not (pivot_root and propagation changes need one), hence the self-bind.
unshare -m --propagation private bash -euc '
    C=$1
    mount --bind "$C" "$C"
    mount --rbind /proc "$C/proc"; mount --rbind /sys "$C/sys"; mount --rbind /dev "$C/dev"
    mount -t tmpfs tmpfs "$C/run"
    mount --bind -o ro "$HOME/.rustup" "$C/root/.rustup"
    mount --bind "$HOME/.cargo" "$C/root/.cargo"
    chroot "$C" /usr/bin/env -i HOME=/root TERM=dumb \
        PATH=/root/.cargo/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -c "cd /root/hull && bash scripts/demo.sh"
' x "$C"

#!/usr/bin/env bash
# The demo: build hull, make a busybox bundle, run a container that prints
# its hostname. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the build links against (libseccomp through pkg-config) and the
# static busybox the rootfs is made of.
need=()
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static)
pkg-config --exists libseccomp 2>/dev/null || need+=(libseccomp-dev pkg-config)
command -v cc >/dev/null || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -p hull
HULL=$PWD/target/release/hull

bundle=$(mktemp -d /tmp/hull-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" "$bundle/rootfs/sys" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh hostname echo cat ls; do ln -s busybox "$bundle/rootfs/bin/$applet"; done

"$HULL" spec --bundle "$bundle"
# The default spec asks for a terminal and a shell; the demo prints the
# hostname instead, in its own cgroup under /hull-demo.
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e 's/"sh"$/"sh", "-c", "echo hello from $(hostname)"/' \
       -e 's/"hostname": "hull"/"hostname": "hull-demo"/' "$bundle/config.json"
sed -i -e 's|"linux": {|"linux": {\n    "cgroupsPath": "/hull-demo/demo-'$$'",|' "$bundle/config.json"

"$HULL" --root /run/hull-demo run --bundle "$bundle" "demo-$$"
for c in /sys/fs/cgroup/*/hull-demo /sys/fs/cgroup/hull-demo; do [ -d "$c" ] && rmdir "$c" 2>/dev/null || true; done

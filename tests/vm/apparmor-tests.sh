#!/usr/bin/env bash
# apparmor-tests.sh
#
# process.apparmorProfile, run INSIDE a guest whose kernel booted with
# AppArmor as its LSM (run-guest with HULLVM_APPEND="apparmor=1
# security=apparmor"; Debian's kernel). apparmor_parser (Debian's apparmor
# package, installed on the host, seen through the shared root) loads a
# test profile that denies writes to /tmp/deny*. Then, from inside busybox
# containers: /proc/self/attr/current names the profile and the denied
# write fails, while other writes work; without the profile the same write
# works; `exec --apparmor` applies it to one process, and a plain exec
# inherits the container's profile (as in runc); a profile that is not
# loaded fails create with an error naming process.apparmorProfile.
# Prints "PASS name" / "FAIL name: why" and, last,
# "apparmor-tests: N passed, M failed". Exit status 0 iff nothing failed.
#
# HULL_BIN: the runtime (default <repo>/target/release/hull).
set -uo pipefail   # no -e: a failed check must not stop the batch

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=/run/hull-vm-aa
WORK=$(mktemp -d /tmp/hull-vm-aa.XXXXXX)
PROFILE=hull-test-deny

# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "apparmor-tests: must run as root (inside run-guest)" >&2; exit 2; }

finish() {
    rm -rf "$WORK"
    echo
    echo "apparmor-tests: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

section "guest"
echo "kernel $(uname -r); LSMs: $(cat /sys/kernel/security/lsm 2>&1)"
check "AppArmor is active" "$(cat /sys/module/apparmor/parameters/enabled 2>&1)" Y
if ! command -v apparmor_parser > /dev/null; then
    fail "apparmor_parser" "missing (apt-get install apparmor)"
    finish
fi
make_rootfs
echo; echo "hull: $HULL ($("$HULL" --version 2>&1))"
rm -rf "$STATE"

# Everything allowed but writes to /tmp/deny*. attach_disconnected: paths
# inside the container's mount namespace may not reach the host's root.
cat > "$WORK/profile" <<EOF
profile $PROFILE flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
  deny /tmp/deny* w,
}
EOF
apparmor_parser -r "$WORK/profile" 2>&1
check "profile loaded" "$(grep -c "^$PROFILE (enforce)" /sys/kernel/security/apparmor/profiles)" 1

# What a container reports: its label and what its writes did.
AA_REPORT='echo "current=$(cat /proc/self/attr/current)"
(echo x > /tmp/deny) 2>/dev/null && echo deny=written || echo deny=refused
(echo x > /tmp/other) 2>/dev/null && echo other=written || echo other=refused'
# aa_bundle NAME PROFILE ARG...: a bundle with process.apparmorProfile
aa_bundle() {
    local b
    b=$(mkbundle "$1" "/hull-test-aa/$1" null "${@:3}")
    [ -z "$2" ] || sed -i 's|"noNewPrivileges": true|"noNewPrivileges": true,\n    "apparmorProfile": "'"$2"'"|' "$b/config.json"
    echo "$b"
}

section "run with and without the profile"
B=$(aa_bundle aa-on "$PROFILE" sh -c "$AA_REPORT")
hull run -b "$B" aa-on
expect_ok "profile: run exit 0"
cat "$OUT" "$ERR"
check "profile: /proc/self/attr/current" "$(field current)" "$PROFILE (enforce)"
check "profile: write to /tmp/deny refused" "$(field deny)" refused
check "profile: other writes work" "$(field other)" written
B=$(aa_bundle aa-off "" sh -c "$AA_REPORT")
hull run -b "$B" aa-off
expect_ok "no profile: run exit 0"
check "no profile: unconfined" "$(field current)" unconfined
check "no profile: write to /tmp/deny works" "$(field deny)" written

section "exec"
B=$(aa_bundle aa-plain "" sleep 1000)
hull run -d -b "$B" aa-plain
expect_ok "exec: run -d without a profile"
hull exec --apparmor "$PROFILE" aa-plain sh -c "$AA_REPORT"
expect_ok "exec --apparmor: exit 0"
check "exec --apparmor: /proc/self/attr/current" "$(field current)" "$PROFILE (enforce)"
check "exec --apparmor: write to /tmp/deny refused" "$(field deny)" refused
hull exec aa-plain sh -c "$AA_REPORT"
check "exec without it: unconfined" "$(field current)" unconfined
hull delete --force aa-plain
B=$(aa_bundle aa-conf "$PROFILE" sleep 1000)
hull run -d -b "$B" aa-conf
expect_ok "exec: run -d with the profile"
hull exec aa-conf sh -c "$AA_REPORT"
check "exec: inherits the container's profile" "$(field current)" "$PROFILE (enforce)"
check "exec: inherited, write refused" "$(field deny)" refused
hull delete --force aa-conf

section "a mount namespace without securityfs"
# conmon runs the runtime so for a container with a user namespace (podman
# --uidmap): the profile must still apply, as with runc.
B=$(aa_bundle aa-nosecfs "$PROFILE" sh -c "$AA_REPORT")
timeout -k 2 60 unshare -m --propagation private sh -c 'umount /sys/kernel/security && exec "$@"' x \
    "$HULL" --root "$STATE" run -b "$B" aa-nosecfs < /dev/null > "$OUT" 2> "$ERR"
RC=$?
expect_ok "no securityfs: run exit 0"
check "no securityfs: /proc/self/attr/current" "$(field current)" "$PROFILE (enforce)"
check "no securityfs: write to /tmp/deny refused" "$(field deny)" refused

section "a profile that is not loaded"
B=$(aa_bundle aa-missing hull-test-no-such-profile true)
hull run -b "$B" aa-missing
if [ "$RC" != 0 ] && grep -q "process.apparmorProfile" "$ERR" && grep -q "hull-test-no-such-profile" "$ERR"; then
    pass "missing profile: run fails naming the field"
else
    fail "missing profile: run fails naming the field" "exit $RC: $(cat "$ERR")"
fi
check "missing profile: state gone" "$(status aa-missing)" none

apparmor_parser -R "$WORK/profile" > /dev/null 2>&1
finish

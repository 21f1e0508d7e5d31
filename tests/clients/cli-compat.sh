#!/usr/bin/env bash
# CLI compatibility table: every command and flag of runc's CLI (as listed by
# `runc --help` and `runc <cmd> --help`) against the runtime under test.
#
#   bash tests/clients/cli-compat.sh
#   RUNTIME=/path/to/hull REF=/usr/sbin/runc bash tests/clients/cli-compat.sh
#
# A flag counts as supported when `<runtime> <cmd> --help` lists it, or when
# invoking it (against a private, empty --root, a container id that does not
# exist and a bundle that does not exist, in an empty temp dir) fails with
# some error other than an unknown-flag one ("unexpected argument",
# "unrecognized option", ...). Nothing is ever created outside the temp dir.
#
# Prints one line per command/flag, then the missing ones, then
# "cli-compat: N passed, M failed". Exits 1 when something is missing,
# unless ALLOW_MISSING=1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO/target/release/hull}
REF=${REF:-$(command -v runc || echo /usr/sbin/runc)}
ALLOW_MISSING=${ALLOW_MISSING:-0}

[ -x "$RUNTIME" ] || { echo "cli-compat: runtime $RUNTIME not found (build hull or set RUNTIME=)" >&2; exit 2; }
[ -x "$REF" ] || { echo "cli-compat: reference $REF not found (apt-get install runc, or set REF=)" >&2; exit 2; }

T=$(mktemp -d /tmp/hull-cli-compat.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/cwd" "$T/root"
ID=hull-cli-compat-no-such-container
RNAME=$(basename "$RUNTIME")

N_OK=0
N_MISSING=0
MISSING=()

# Errors that mean "I do not know this flag / command" in clap, urfave/cli,
# getopt and friends.
UNKNOWN_RE='unexpected argument|unrecognized (option|subcommand|command)|unknown (option|flag|argument|command|subcommand|shorthand)|flag provided but not defined|Found argument .* which wasn.t expected|invalid option|No help topic for|not a valid command|unrecognized arguments'

# The flags of one runc help text: "--name value, -n value  text" lines,
# printed one flag per line as "NAME TAKES_VALUE" (e.g. "--bundle 1", "-b 1").
ref_flags() {
    grep -E '^ {2,4}-{1,2}[A-Za-z]' | sed -E 's/^ +//; s/ {2,}.*$//' | tr ',' '\n' | while read -r name rest; do
        [ -n "$name" ] || continue
        if [ "$rest" = value ]; then echo "$name 1"; else echo "$name 0"; fi
    done
}

ref_commands() {
    "$REF" --help 2>&1 | sed -n '/^COMMANDS:/,/^[A-Z ]*OPTIONS:/p' | grep -E '^ {2,4}[a-z]' |
        sed -E 's/^ +//; s/ {2,}.*$//'
}

# run_rt ARGS...: the runtime in the temp cwd, stdin closed, bounded.
run_rt() {
    (cd "$T/cwd" && timeout 10 "$RUNTIME" "$@" </dev/null 2>&1)
}

# listed HELP_TEXT FLAG: whether the help text shows FLAG.
listed() {
    local help=$1 flag=$2
    if [[ $flag == --* ]]; then
        printf '%s\n' "$help" | grep -Eq -- "(^|[ ,])$flag([ =,<]|$)"
    else
        printf '%s\n' "$help" | grep -Eq -- "(^|[ ,])$flag([ ,<]|$)"
    fi
}

row() {
    printf '%-12s %-26s %s\n' "$1" "$2" "$3"
}

ok() { N_OK=$((N_OK + 1)); row "$1" "$2" "ok${3:+ ($3)}"; }
missing() {
    N_MISSING=$((N_MISSING + 1))
    MISSING+=("$1 $2${3:+: $3}")
    row "$1" "$2" "MISSING${3:+ ($3)}"
}

# probe CMD FLAG TAKES_VALUE: invoke the flag; prints the error when unknown.
probe() {
    local cmd=$1 flag=$2 takes=$3 out
    local args=(--root "$T/root")
    if [ "$cmd" = "(global)" ]; then
        args+=("$flag")
        [ "$takes" = 1 ] && args+=(1)
        args+=(list)
    else
        args+=("$cmd" "$flag")
        [ "$takes" = 1 ] && args+=(1)
        case $cmd in
            create | run | restore) args+=(--bundle "$T/no-such-bundle" "$ID") ;;
            spec | list | features) ;;
            exec) args+=("$ID" true) ;;
            *) args+=("$ID") ;;
        esac
    fi
    out=$(run_rt "${args[@]}")
    if printf '%s\n' "$out" | grep -Eiq -- "$UNKNOWN_RE"; then
        printf '%s\n' "$out" | grep -Ei -- "$UNKNOWN_RE" | head -n1
        return 1
    fi
    return 0
}

echo "# $RNAME vs $("$REF" --version 2>&1 | head -n1)"
row COMMAND FLAG STATUS

# ---------------------------------------------------------------- global flags
ghelp=$(run_rt --help)
while read -r flag takes; do
    if listed "$ghelp" "$flag"; then
        ok "(global)" "$flag"
    elif err=$(probe "(global)" "$flag" "$takes"); then
        ok "(global)" "$flag" "accepted, not in --help"
    else
        missing "(global)" "$flag" "$err"
    fi
done < <("$REF" --help 2>&1 | sed -n '/^GLOBAL OPTIONS:/,$p' | ref_flags)

# ---------------------------------------------------------------- commands
while IFS= read -r entry; do
    # "help, h" -> names "help" and alias "h"
    names=$(printf '%s\n' "$entry" | tr ',' ' ')
    cmd=${names%% *}
    for alias in $names; do
        [ "$alias" = "$cmd" ] && continue
        out=$(run_rt "$alias" 2>&1)
        if printf '%s\n' "$out" | grep -Eiq -- "$UNKNOWN_RE"; then
            missing "$alias" "(alias of $cmd)" "$(printf '%s\n' "$out" | grep -Ei -- "$UNKNOWN_RE" | head -n1)"
        else
            ok "$alias" "(alias of $cmd)"
        fi
    done
    [ "$cmd" = help ] && {
        if run_rt help >/dev/null; then ok help "(command)"; else missing help "(command)"; fi
        continue
    }
    chelp=$(run_rt "$cmd" --help)
    rc=$?
    if [ $rc != 0 ] || printf '%s\n' "$chelp" | grep -Eiq -- "$UNKNOWN_RE"; then
        missing "$cmd" "(command)" "$(printf '%s\n' "$chelp" | grep -Ei -- "$UNKNOWN_RE|error" | head -n1)"
        # every flag of a missing command is missing too
        while read -r flag takes; do
            missing "$cmd" "$flag" "no such command"
        done < <("$REF" "$cmd" --help 2>&1 | sed -n '/^OPTIONS:/,$p' | ref_flags)
        continue
    fi
    ok "$cmd" "(command)"
    while read -r flag takes; do
        if listed "$chelp" "$flag"; then
            ok "$cmd" "$flag"
        elif err=$(probe "$cmd" "$flag" "$takes"); then
            ok "$cmd" "$flag" "accepted, not in --help"
        else
            missing "$cmd" "$flag" "$err"
        fi
    done < <("$REF" "$cmd" --help 2>&1 | sed -n '/^OPTIONS:/,$p' | ref_flags)
done < <(ref_commands)

# ---------------------------------------------------------------- argument forms
# Positional forms runc accepts that engines rely on.
form() {
    local name=$1
    shift
    local out
    out=$(run_rt "$@")
    if printf '%s\n' "$out" | grep -Eiq -- "$UNKNOWN_RE"; then
        missing "(form)" "$name" "$(printf '%s\n' "$out" | grep -Ei -- "$UNKNOWN_RE" | head -n1)"
    else
        ok "(form)" "$name"
    fi
}
R=(--root "$T/root")
form "kill ID SIGNAL-NAME (KILL)" "${R[@]}" kill "$ID" KILL
form "kill ID SIGNAL-NAME (SIGKILL)" "${R[@]}" kill "$ID" SIGKILL
form "kill ID SIGNAL-NUMBER (9)" "${R[@]}" kill "$ID" 9
form "ps ID -- PS-ARGS" "${R[@]}" ps "$ID" -- -ef
form "ps ID PS-ARGS" "${R[@]}" ps "$ID" -ef
form "exec ID CMD --flag-for-cmd" "${R[@]}" exec "$ID" ls -la
form "update -r - ID" "${R[@]}" update -r - "$ID"
form "--log-format=json (= form)" "${R[@]}" --log-format=json list
form "--root=DIR (= form)" --root="$T/root" list
form "version: -v" -v
form "version: --version" --version

echo
if [ "$N_MISSING" -gt 0 ]; then
    echo "missing in $RNAME (${#MISSING[@]}):"
    printf '  %s\n' "${MISSING[@]}"
fi
echo "cli-compat: $N_OK passed, $N_MISSING failed"
[ "$N_MISSING" -eq 0 ] || [ "$ALLOW_MISSING" = 1 ]

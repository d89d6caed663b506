#!/bin/sh
# Install Rampart: the `rampart` daemon/CLI, the `rampart-preload` launcher and the
# preload library `librampart.so`.
#
# Usage (paths are relative to the repository, wherever you run it from):
#   scripts/install.sh [--prefix DIR] [--no-build]            per-user install
#   scripts/install.sh --system [--root DIR] [--no-build]     system install (root)
#   scripts/install.sh [--system [--root DIR]] --uninstall [--purge]
#
#   --prefix DIR   user mode: binaries in DIR/bin (default: ~/.local/bin); the
#                  library always goes to ~/.rampart/lib
#   --system       /usr/local/bin, /usr/local/lib, /etc/rampart/rampart.yaml (the
#                  standard policy, kept when it exists), the systemd units and the
#                  `rampart` user, via scripts/install-systemd.sh
#   --root DIR     with --system: prefix every system path with DIR (a staging tree,
#                  like DESTDIR); no useradd, no systemctl
#   --no-build     use the built artefacts as they are (built anyway when missing)
#   --from DIR     take rampart and rampart-preload from DIR (default: the release
#                  build, ${CARGO_TARGET_DIR:-target}/release)
#   --lib FILE     take librampart.so from FILE (default:
#                  interceptor/hook/target/release/librampart.so)
#   --uninstall    remove exactly what the install recorded in its manifest
#                  (~/.rampart/install-manifest, or
#                  /usr/local/share/rampart/install-manifest); files changed since
#                  are kept; audit logs and tokens are kept
#   --purge        with --uninstall: also remove the audit logs, the token, the
#                  daemon's log, and (system mode) /var/lib/rampart and the user
#
# Running it twice changes nothing the second time, and says so.
set -eu

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "install.sh: $*" >&2; exit 1; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=
SYSTEM=0
ROOT=
BUILD=1
FROM=
LIB_SRC=
UNINSTALL=0
PURGE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
        --system) SYSTEM=1; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --from) [ $# -ge 2 ] || die "--from needs a directory"; FROM=$2; shift 2 ;;
        --lib) [ $# -ge 2 ] || die "--lib needs a file"; LIB_SRC=$2; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || die "--purge goes with --uninstall"
[ -z "$ROOT" ] || [ "$SYSTEM" = 1 ] || die "--root goes with --system"
[ -z "$PREFIX" ] || [ "$SYSTEM" = 0 ] || die "--prefix is for user mode; use --root with --system"

absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac; }

if [ "$SYSTEM" = 1 ]; then
    if [ -n "$ROOT" ]; then
        ROOT=$(absolute "$ROOT")
        ROOT=${ROOT%/}
    else
        [ "$(id -u)" = 0 ] || die "--system needs root (or --root DIR for a staging tree)"
    fi
    BIN_DIR=$ROOT/usr/local/bin
    LIB_DIR=$ROOT/usr/local/lib
    ETC_DIR=$ROOT/etc/rampart
    UNIT_DIR=$ROOT/etc/systemd/system
    STATE_DIR=$ROOT/var/lib/rampart
    MANIFEST=$ROOT/usr/local/share/rampart/install-manifest
else
    [ -n "${HOME:-}" ] || die "HOME is not set"
    if [ -n "$PREFIX" ]; then
        PREFIX=$(absolute "$PREFIX")
        BIN_DIR=${PREFIX%/}/bin
    else
        BIN_DIR=$HOME/.local/bin
    fi
    LIB_DIR=$HOME/.rampart/lib
    STATE_DIR=$HOME/.rampart
    MANIFEST=$HOME/.rampart/install-manifest
fi

CHANGED=0
NEW_ENTRIES=
note() { printf '  %s\n' "$*"; }
record() { NEW_ENTRIES="${NEW_ENTRIES}$1
"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# make_dir DIR: create DIR (and parents), recording every directory created.
# ~/.rampart is private (0700: it holds the admin token and the audit log).
make_dir() {
    [ -d "$1" ] && return 0
    make_dir "$(dirname "$1")"
    if [ "$SYSTEM" = 0 ] && [ "$1" = "$HOME/.rampart" ]; then
        mkdir -m 0700 "$1"
    else
        mkdir -m 0755 "$1"
    fi
    record "d - - $1"
    note "created $1/"
    CHANGED=1
}

# put_file SRC DEST MODE: install SRC as DEST unless identical (content and mode).
# Replaces by rename, so a running binary or a mapped library is never rewritten.
put_file() {
    make_dir "$(dirname "$2")"
    if [ -f "$2" ] && [ ! -L "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "${3#0}" ]; then
        note "unchanged $2"
    else
        tmp="$2.rampart-new.$$"
        cp "$1" "$tmp"
        chmod "$3" "$tmp"
        mv -f "$tmp" "$2"
        note "installed $2"
        CHANGED=1
    fi
    record "f $3 $(sha "$2") $2"
}

# keep_or_put SRC DEST MODE: install a configuration file only when DEST is missing.
keep_or_put() {
    if [ -e "$2" ]; then
        note "kept existing $2"
        # Recorded only if we installed it earlier (the old manifest has it).
    else
        put_file "$1" "$2" "$3"
    fi
}

# write_manifest: the new entries, plus old entries for other paths.
write_manifest() {
    make_dir "$(dirname "$MANIFEST")"
    new=$(
        {
            printf '%s' "$NEW_ENTRIES" | sed 's/^/N /'
            if [ -f "$MANIFEST" ]; then sed 's/^/O /' "$MANIFEST"; fi
        } | awk '{ line = substr($0, 3); path = line; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", path)
                   if (!(path in seen)) { seen[path] = 1; print line } }'
    )
    if [ -f "$MANIFEST" ] && [ "$(cat "$MANIFEST")" = "$new" ]; then
        return 0
    fi
    printf '%s\n' "$new" >"$MANIFEST.new.$$"
    chmod 0644 "$MANIFEST.new.$$"
    mv -f "$MANIFEST.new.$$" "$MANIFEST"
}

purge() {
    if [ "$SYSTEM" = 1 ]; then
        rm -rf "$STATE_DIR"
        note "purged $STATE_DIR (audit log, token)"
        if [ -z "$ROOT" ] && grep -q '^u - - rampart$' "$MANIFEST" && getent passwd rampart >/dev/null; then
            userdel rampart && note "removed the rampart user"
        fi
    else
        for p in "$STATE_DIR/audit" "$STATE_DIR/token" "$STATE_DIR/serve.log" "$STATE_DIR/serve.pid"; do
            if [ -e "$p" ]; then
                rm -rf "$p"
                note "purged $p"
            fi
        done
    fi
}

remove_dirs() {
    # Deepest first; a directory that still holds anything (audit logs, a token,
    # files of other programs) stays.
    awk '$1 == "d" { p = $0; sub(/^d - - /, "", p); print length(p) "\t" p }' "$1" \
        | sort -rn | cut -f2- | while read -r dir; do
            if [ -d "$dir" ] && rmdir "$dir" 2>/dev/null; then
                note "removed $dir/"
            elif [ -d "$dir" ]; then
                note "kept $dir/ (not empty)"
            fi
        done
}

if [ "$UNINSTALL" = 1 ]; then
    if [ ! -f "$MANIFEST" ]; then
        echo "nothing recorded as installed ($MANIFEST does not exist); nothing removed"
        exit 0
    fi
    if [ "$SYSTEM" = 1 ] && [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1 \
        && grep -q " $UNIT_DIR/rampart.socket\$" "$MANIFEST"; then
        sh "$REPO/scripts/install-systemd.sh" --uninstall
    fi
    echo "removing what $MANIFEST lists:"
    while read -r kind _mode sum path; do
        [ "$kind" = f ] || continue
        if [ ! -e "$path" ]; then
            note "already gone $path"
        elif [ "$(sha "$path")" = "$sum" ]; then
            rm -f "$path"
            note "removed $path"
        else
            note "kept $path (changed since it was installed)"
        fi
    done <"$MANIFEST"
    if [ "$PURGE" = 1 ]; then purge; fi
    saved=$(mktemp)
    cp "$MANIFEST" "$saved"
    rm -f "$MANIFEST"
    remove_dirs "$saved"
    rm -f "$saved"
    if [ "$PURGE" = 0 ]; then
        echo "kept the audit logs and the admin token (in $STATE_DIR); --purge removes them"
    fi
    exit 0
fi

# --- artefacts --------------------------------------------------------------------
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
case "$TARGET" in /*) ;; *) TARGET=$REPO/$TARGET ;; esac
[ -n "$FROM" ] || FROM=$TARGET/release
[ -n "$LIB_SRC" ] || LIB_SRC=$REPO/interceptor/hook/target/release/librampart.so
FROM=$(absolute "$FROM")
LIB_SRC=$(absolute "$LIB_SRC")

have_artefacts() { [ -x "$FROM/rampart" ] && [ -x "$FROM/rampart-preload" ] && [ -f "$LIB_SRC" ]; }

if [ "$BUILD" = 1 ] || ! have_artefacts; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust from rustup.rs), or pass --no-build with built artefacts"
    echo "building (release)..."
    (cd "$REPO" && cargo build --release --workspace --bins)
    # The hook is its own workspace; build it where --lib defaults to look.
    (cd "$REPO" && cargo build --release --manifest-path interceptor/hook/Cargo.toml \
        --target-dir interceptor/hook/target)
fi
have_artefacts || die "missing artefacts: need $FROM/rampart, $FROM/rampart-preload and $LIB_SRC"

# --- install ------------------------------------------------------------------------
if [ "$SYSTEM" = 1 ]; then
    echo "installing Rampart system-wide${ROOT:+ under $ROOT}:"
else
    echo "installing Rampart for $(id -un) (HOME=$HOME):"
fi
# The manifest is rewritten after each step, so an interrupted install can still be
# uninstalled.
put_file "$FROM/rampart" "$BIN_DIR/rampart" 0755
write_manifest
put_file "$FROM/rampart-preload" "$BIN_DIR/rampart-preload" 0755
write_manifest
put_file "$LIB_SRC" "$LIB_DIR/librampart.so" 0755
write_manifest

if [ "$SYSTEM" = 1 ]; then
    keep_or_put "$REPO/policies/standard.yaml" "$ETC_DIR/rampart.yaml" 0644
    put_file "$REPO/scripts/systemd/rampart.service" "$UNIT_DIR/rampart.service" 0644
    put_file "$REPO/scripts/systemd/rampart.socket" "$UNIT_DIR/rampart.socket" 0644
    write_manifest
    if [ -z "$ROOT" ]; then
        # The rampart user, daemon-reload and enabling the socket: install-systemd.sh
        # (it finds the files above already in place and identical).
        if command -v systemctl >/dev/null 2>&1; then
            had_user=0
            getent passwd rampart >/dev/null && had_user=1
            sh "$REPO/scripts/install-systemd.sh" --binary "$FROM/rampart"
            if [ "$had_user" = 0 ] && getent passwd rampart >/dev/null; then
                record "u - - rampart"
                CHANGED=1
            fi
        else
            note "systemctl not found: units copied, not enabled; start the daemon yourself"
        fi
    else
        note "staging tree: no useradd, no systemctl"
    fi
fi

write_manifest

if [ "$CHANGED" = 0 ]; then
    echo "already installed and up to date: nothing changed"
else
    echo "done; the list of installed files is $MANIFEST (used by --uninstall)"
fi
if [ "$SYSTEM" = 0 ]; then
    case ":${PATH:-}:" in
        *":$BIN_DIR:"*) ;;
        *) echo "note: $BIN_DIR is not on PATH; add it: export PATH=\"$BIN_DIR:\$PATH\"" ;;
    esac
    echo "next: rampart doctor    # what protects you now"
    echo "      rampart-preload -- bash   # a shell whose every command is checked"
fi

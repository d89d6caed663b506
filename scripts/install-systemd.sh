#!/bin/sh
# Install `rampart serve` as a socket-activated systemd service.
#
# Usage (as root, from the repository root):
#   scripts/install-systemd.sh [--binary PATH] [--uninstall]
#
# Creates the `rampart` system user and group, installs the binary to
# /usr/local/bin/rampart, the default policy to /etc/rampart/rampart.yaml (kept if it
# already exists), the units to /etc/systemd/system, and starts rampart.socket.
# Users who may ask for decisions must be in the `rampart` group; the admin token is
# /var/lib/rampart/token (root-readable via sudo).
set -eu
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/release/rampart
UNINSTALL=0
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) BIN=$2; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "install-systemd.sh: run as root" >&2; exit 1; }
command -v systemctl >/dev/null || { echo "install-systemd.sh: systemctl not found" >&2; exit 1; }

if [ "$UNINSTALL" = 1 ]; then
    systemctl disable --now rampart.socket rampart.service 2>/dev/null || true
    rm -f /etc/systemd/system/rampart.socket /etc/systemd/system/rampart.service
    systemctl daemon-reload
    echo "removed the units; kept /usr/local/bin/rampart, /etc/rampart and /var/lib/rampart (audit log)"
    exit 0
fi

[ -x "$BIN" ] || { echo "install-systemd.sh: $BIN missing; run: cargo build --release -p daemon" >&2; exit 1; }
if ! getent passwd rampart >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/rampart --no-create-home \
        --shell /usr/sbin/nologin --comment "Rampart policy daemon" rampart
fi
install -m 0755 "$BIN" /usr/local/bin/rampart
install -d -m 0755 /etc/rampart
[ -e /etc/rampart/rampart.yaml ] || install -m 0644 policies/standard.yaml /etc/rampart/rampart.yaml
/usr/local/bin/rampart policy lint /etc/rampart/rampart.yaml >/dev/null 2>&1 \
    || echo "warning: /etc/rampart/rampart.yaml does not lint cleanly" >&2
install -m 0644 scripts/systemd/rampart.service scripts/systemd/rampart.socket /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now rampart.socket
echo "rampart.socket is listening on /run/rampart/rampart.sock"
echo "add users to the 'rampart' group to let their agents ask; admin token: /var/lib/rampart/token"
echo "clients: export RAMPART_SOCKET=/run/rampart/rampart.sock"

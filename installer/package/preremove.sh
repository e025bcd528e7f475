#!/bin/sh
# tokenagent package preremove: the .deb's prerm (called with "remove",
# "upgrade", "deconfigure" or "failed-upgrade") and the .rpm's %preun
# (called with 0 on removal, 1 on upgrade). On removal it stops and
# disables the service and takes the local CA out of the trust stores while
# the binary that knows where it put it is still there; an upgrade keeps
# both.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl disable --now tokenagent.service || true
fi

if [ -x /usr/bin/tokenagent ]; then
	if ! /usr/bin/tokenagent tls remove; then
		echo "tokenagent: removing the local CA failed; run 'tokenagent tls status' to see where it is still trusted." >&2
	fi
fi
exit 0

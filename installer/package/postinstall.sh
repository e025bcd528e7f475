#!/bin/sh
# tokenagent package postinstall: the .deb's postinst (called with
# "configure" [old-version]) and the .rpm's %post (called with 1 on install,
# 2 on upgrade). Starts the service only when systemd runs this system, and
# sets up local TLS once; a TLS failure does not fail the install.
set -e

install=no
case "$1" in
abort-*) exit 0 ;;               # a failed upgrade or removal rolled back: nothing to do
configure) [ -n "${2:-}" ] || install=yes ;; # deb: no old version
1) install=yes ;;                # rpm: this is the only version installed
esac

# `tokenagent tls setup` makes a local CA and a server certificate, trusts
# the CA in the system store (and, with certutil, root's NSS databases) and
# adds [tls] to /etc/tokenagent/config.toml. Only once: a reinstall keeps
# the CA that browsers already trust.
if [ ! -e /var/lib/tokenagent/tls/cert.pem ]; then
	if ! /usr/bin/tokenagent tls setup; then
		echo "tokenagent: local TLS setup failed; the agent serves plain WebSocket." >&2
		echo "tokenagent: run 'sudo tokenagent tls setup' to retry." >&2
	fi
fi

# No systemd (a container, another init): the package installs the units
# and leaves the service alone.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ "$install" = yes ]; then
		systemctl enable --now tokenagent.service || true
	else
		# An upgrade: restart a running agent on the new binary, and leave
		# a service the administrator disabled as it is.
		systemctl try-restart tokenagent.service || true
	fi
fi
exit 0

#!/bin/sh
# tokenagent package postremove: the .deb's postrm (called with "remove",
# "purge", "upgrade", …) and the .rpm's %postun (0 on removal, 1 on
# upgrade). Tells systemd that the unit files are gone; a .deb purge also
# deletes the agent's state (/var/lib/tokenagent: audit log, certificates).
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/tokenagent
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0

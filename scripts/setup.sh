#!/bin/sh
# Installs the Debian packages the tests drive as reference peers (real AMQP clients, keepalived, haproxy, netns
# tools). Runs before `npm test`; does nothing when everything is already there. Needs root (or passwordless sudo)
# only when something is missing.
set -u
need=""
command -v amqp-publish >/dev/null 2>&1 || need="$need amqp-tools"
{ /usr/bin/python3 -c 'import pika' || python3 -c 'import pika'; } >/dev/null 2>&1 || need="$need python3-pika"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v nft >/dev/null 2>&1 || need="$need nftables"
command -v arping >/dev/null 2>&1 || need="$need iputils-arping"
command -v ping >/dev/null 2>&1 || need="$need iputils-ping"
command -v haproxy >/dev/null 2>&1 || need="$need haproxy"
command -v keepalived >/dev/null 2>&1 || need="$need keepalived"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
[ -d /usr/lib/rabbitmq ] || need="$need rabbitmq-server"
[ -z "$need" ] && exit 0
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "setup: missing Debian packages:$need (not root: tests that need them will be skipped)" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing$need and no apt-get here: tests that need them will be skipped" >&2
  exit 0
fi
echo "setup: installing Debian packages:$need" >&2
export DEBIAN_FRONTEND=noninteractive
# installed packages must not start their services: the tests start their own instances
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
$SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends $need >/dev/null \
  || echo "setup: apt-get failed; tests that need$need will be skipped" >&2
[ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
exit 0

#!/bin/sh
# Capture real keepalived adverts for test/vrrp/fixtures/keepalived-captures.json (no tshark needed):
# keepalived runs in namespace A, a raw IPPROTO 112 socket joined to 224.0.0.18 listens in namespace B.
# Usage (root): test/vrrp/tools/capture-keepalived.sh <keepalived.conf using interface vA$$> <seconds>
# Prints one JSON line {src, hex} per received packet (IP header included). SIGTERM at the end makes
# keepalived send its priority 0 advert, which is captured too.
set -eu
conf=$1; secs=${2:-4}; P=$$; here=$(cd "$(dirname "$0")" && pwd)
cleanup() { ip netns del capA$P 2>/dev/null || true; ip netns del capB$P 2>/dev/null || true; }
trap cleanup EXIT
ip netns add capA$P; ip netns add capB$P
ip link add vA$P type veth peer name vB$P
ip link set vA$P netns capA$P; ip link set vB$P netns capB$P
ip -n capA$P addr add 10.213.99.1/24 dev vA$P; ip -n capA$P link set vA$P up; ip -n capA$P link set lo up
ip -n capB$P addr add 10.213.99.2/24 dev vB$P; ip -n capB$P link set vB$P up
sed "s/vA\\\$\\\$/vA$P/g" "$conf" > /tmp/capture-$P.conf
ip netns exec capA$P keepalived -n -l -D -f /tmp/capture-$P.conf -p /tmp/capture-$P.pid -r /tmp/capture-$P.vpid >/dev/null 2>&1 &
kp=$!
ip netns exec capB$P node "$here/recv-vrrp.cjs" vB$P $((secs * 1000 + 1500)) &
rp=$!
sleep "$secs"; kill -TERM $kp; wait $kp || true; wait $rp || true
rm -f /tmp/capture-$P.conf

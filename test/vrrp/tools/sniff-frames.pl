#!/usr/bin/perl
# sniff-frames.pl IFNAME SECONDS [icmp]: print every ARP and VRRP (IPv4 protocol 112) frame seen on IFNAME (and
# ICMP echo replies with `icmp`) as "<unix time with µs> <frame hex>" lines, for the VRRP tests and benches
# (there is no tcpdump in the image).
# The time is the kernel's receive timestamp (SIOCGSTAMP), so a busy machine delaying this reader does not skew it.
# AF_PACKET needs root; run it inside the namespace whose interface it watches.
use strict;
use warnings;
use Time::HiRes qw(time);
my ($ifname, $secs, $icmp) = @ARGV;
open(my $fh, '<', "/sys/class/net/$ifname/ifindex") or die "$ifname: $!\n";
my $ifindex = <$fh> + 0;
my $all = unpack('S', pack('n', 3)); # htons(ETH_P_ALL)
socket(my $s, 17, 3, $all) or die "socket(AF_PACKET): $!\n";
bind($s, pack('S n i S C C a8', 17, 3, $ifindex, 0, 0, 0, '')) or die "bind: $!\n";
$| = 1;
print "ready\n";
my $end = time + ($secs // 60);
while (time < $end) {
  my $rin = '';
  vec($rin, fileno($s), 1) = 1;
  next unless select(my $rout = $rin, undef, undef, 0.2);
  defined(recv($s, my $buf, 2048, 0)) or next;
  my $tv = pack('q q', 0, 0);
  my $t = ioctl($s, 0x8906, $tv) ? do { my ($sec, $usec) = unpack('q q', $tv); $sec + $usec / 1e6 } : time; # SIOCGSTAMP
  my $type = unpack('n', substr($buf, 12, 2));
  my $proto = $type == 0x0800 ? ord(substr($buf, 23, 1)) : -1;
  my $reply = $proto == 1 && ord(substr($buf, 14 + 4 * (ord(substr($buf, 14, 1)) & 15), 1)) == 0;
  next unless $type == 0x0806 || $proto == 112 || ($icmp && $reply);
  printf "%.6f %s\n", $t, unpack('H*', $buf);
}

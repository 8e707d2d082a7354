#!/usr/bin/perl
# devconf.pl ROOT PG_PORT REDIS_PORT HTTP_PORT [INCLUDE]: prints
# conf/tunesheap.dev.conf as `make run` ships it, moved to other ports:
# the module's path and the includes made absolute, Postgres's port,
# Redis's address, the listen port, and with INCLUDE an `include` after
# `server_name` (the bench's measuring locations).  Each change must match
# exactly once, so a reshaped dev file stops its users instead of running
# something else.  Used by bench/run.sh, bench/fleet-bench.sh and
# t/tools/fleet.sh.

use strict;
use warnings;

my ($root, $pgport, $redis, $port, $extra) = @ARGV;
die "usage: $0 ROOT PG_PORT REDIS_PORT HTTP_PORT [INCLUDE]\n"
    unless defined $port;

my $file = "$root/conf/tunesheap.dev.conf";
open my $f, '<', $file or die "$file: $!\n";
my $c = do { local $/; <$f> };

my @subst = (
    [qr{^load_module \S+;}m,
     "load_module $root/build/nginx/objs/ngx_tunesheap_module.so;"],
    [qr{\bport=5433\b}, "port=$pgport"],
    [qr{(tunesheap_redis\s+)127\.0\.0\.1:6380;}, "\${1}127.0.0.1:$redis;"],
    [qr{(listen\s+)127\.0\.0\.1:8080\b}, "\${1}127.0.0.1:$port"],
);
push @subst, [qr{(server_name\s+localhost;)}, "\$1\n        include $extra;"]
    if defined $extra;

for my $s (@subst) {
    my ($re, $to) = @$s;
    my $n = () = $c =~ /$re/g;
    die "devconf: $file: $re matches $n times, not once\n" if $n != 1;
    $c =~ s/$re/qq{"$to"}/ee;
}

$c =~ s{^(\s*include\s+)(tunesheap-[\w.-]+\.conf;)}{$1$root/conf/$2}mg;
print $c;

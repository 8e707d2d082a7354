#!/usr/bin/perl
# t/tools/soak-writer.pl URL KEY SECONDS CLIENTS OUTDIR: writes for
# t/tools/soak.sh.  CLIENTS processes each create artists one after
# another on a kept-alive connection for SECONDS, and record every answer:
# "epoch status name id" (id from Location on a 201, else "-") in
# OUTDIR/writer-N.log.  A name is written once, never retried: a name
# found twice in Postgres was written twice by the server.
use strict;
use warnings;
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(time sleep);

my ($url, $key, $seconds, $clients, $out) = @ARGV;
die "usage: $0 URL KEY SECONDS CLIENTS OUTDIR\n" unless defined $out;
my $end = time + $seconds;
my @pids;

for my $c (1 .. $clients) {
    my $pid = fork // die "fork: $!";
    if ($pid) {
        push @pids, $pid;
        next;
    }
    open my $log, '>', "$out/writer-$c.log" or die "$out: $!";
    select((select($log), $| = 1)[0]);
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 1,
                             max_redirect => 0);
    my $n = 0;
    while (time < $end) {
        $n++;
        my $name = "soak-$$-$c-$n";
        my $t = time;
        my $res = $ua->request(POST => "$url/api/v1/artists", {
            headers => { authorization => "Bearer $key",
                         'content-type' => 'application/json' },
            content => qq({"artist":{"name":"$name","country":"Soak",)
                     . qq("description":"written by soak-writer $c #$n"}}) });
        my ($id) = ($res->{headers}{location} // '') =~ m{/artists/(\d+)$};
        printf $log "%.3f %d %s %s\n", $t, $res->{status}, $name,
            $id // '-';
        sleep 0.02;
    }
    close $log;
    POSIX::_exit(0);
}

$SIG{TERM} = sub { kill 'TERM', @pids; exit 1 };
waitpid $_, 0 for @pids;

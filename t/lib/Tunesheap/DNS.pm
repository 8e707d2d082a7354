package Tunesheap::DNS;

# A small DNS server over UDP on loopback for the suites: it answers A
# queries from a file of "name address ttl" lines (re-read at every query,
# so a test moves a name by rewriting it), "name drop" to never answer,
# an empty NOERROR answer for other types (AAAA), NXDOMAIN for the rest.
# Every question is appended to a log, one name a line.

use strict;
use warnings;

use IO::Socket::INET ();
use POSIX ();
use File::Temp ();

my ($Pid, $Port, $Dir);

sub port { return $Port }

# starts it once per suite; returns its port
sub start {
    return $Port if $Pid;

    $Dir = File::Temp::tempdir('tunesheap-dns-XXXXXX', TMPDIR => 1,
                               CLEANUP => 1);

    my $sock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp',
    ) or die "dns: $!";
    $Port = $sock->sockport;

    $Pid = fork // die "fork: $!";

    if ($Pid == 0) {
        serve($sock);
        POSIX::_exit(0);
    }

    close $sock;
    return $Port;
}

sub stop {
    return unless $Pid;
    kill 'TERM', $Pid;
    waitpid $Pid, 0;
    undef $Pid;
}

END { stop() }

# the answers: { name => [address, ttl] or "drop" }
sub zone {
    my (%names) = @_;
    open my $fh, '>', "$Dir/zone.tmp" or die "zone: $!";
    for my $name (sort keys %names) {
        my $v = $names{$name};
        print $fh ref $v ? "$name @$v\n" : "$name $v\n";
    }
    close $fh;
    rename "$Dir/zone.tmp", "$Dir/zone" or die "zone: $!";
    unlink "$Dir/queries";
}

# the names asked for since the zone was last written
sub queries {
    open my $fh, '<', "$Dir/queries" or return ();
    chomp(my @q = <$fh>);
    return @q;
}

sub serve {
    my ($sock) = @_;
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };

    while (!$stop) {
        my $from = $sock->recv(my $pkt, 512);
        next unless defined $from && length $pkt >= 12;

        my ($id, $flags, $qd) = unpack 'n n n', $pkt;
        next unless $qd == 1;

        my ($name, $pos) = ('', 12);
        while ((my $len = ord substr $pkt, $pos, 1) != 0) {
            $name .= '.' if length $name;
            $name .= substr $pkt, $pos + 1, $len;
            $pos += $len + 1;
        }
        $pos++;
        my ($qtype) = unpack 'n', substr $pkt, $pos, 2;
        my $question = substr $pkt, 12, $pos + 4 - 12;

        if (open my $log, '>>', "$Dir/queries") {
            print $log lc($name), "\n";
            close $log;
        }

        my $entry;
        if (open my $fh, '<', "$Dir/zone") {
            while (<$fh>) {
                my @f = split;
                $entry = [@f[1 .. $#f]] if @f && lc $f[0] eq lc $name;
            }
            close $fh;
        }

        next if $entry && $entry->[0] eq 'drop';

        my ($rcode, $answer) = (3, '');
        if ($entry) {
            $rcode = 0;
            if ($qtype == 1) {
                $answer = pack('n n n N n', 0xc00c, 1, 1, $entry->[1] // 1, 4)
                    . pack('C4', split /\./, $entry->[0]);
            }
        }

        my $reply = pack('n n n n n n', $id, 0x8180 | $rcode, 1,
                         length $answer ? 1 : 0, 0, 0)
            . $question . $answer;

        $sock->send($reply, 0, $from);
    }
}

1;

package Tunesheap::Replica;

# A real streaming replica of the suite's Postgres, for the read-replica
# suites: db/pg.sh replica (pg_basebackup -R: primary_conninfo and
# standby.signal) into a directory beside the suite's cluster, started on
# its own port (TS_TEST_REPLICA_PORT, 55433 by default), every statement
# logged (log_statement = all), so a suite sees which statements reached
# it.  When run as root, db/pg.sh runs the server as the postgres user.
# Stopped when the suite ends if this module started it.

use strict;
use warnings;

use File::Basename qw(dirname);
use Time::HiRes qw(sleep time);

our $Port = $ENV{TS_TEST_REPLICA_PORT} // 55433;
our $Dir = dirname($ENV{TEST_NGINX_PG_DATA} // '/nonexistent') . '/replica';
my $Started;

sub ctl {
    my (@args) = @_;
    my @cmd = ($ENV{TEST_NGINX_PG_CTL}, $args[0], $Dir, @args[1 .. $#args]);
    system(@cmd) == 0 or die "@cmd failed\n";
}

# makes the replica if there is none, and starts it
sub start {
    if (-e "$Dir/standby.signal") {
        ctl('start', $Port);

    } else {
        ctl('replica', $ENV{TEST_NGINX_PG_DATA}, $Port);
        sql("ALTER SYSTEM SET log_statement = 'all'");
        sql("SELECT pg_reload_conf()");
    }

    $Started = 1;
    wait_caught_up();
}

sub stop {
    ctl('stop');
}

END {
    system("$ENV{TEST_NGINX_PG_CTL} stop $Dir >/dev/null 2>&1") if $Started;
}

sub dsn {
    return "host=127.0.0.1 port=$Port dbname=tunesheap user=tunesheap";
}

# SQL on the replica as the superuser; its output
sub sql {
    my ($statement) = @_;
    my $out = `$ENV{TEST_NGINX_PG_CTL} psql $Dir tunesheap -Atc "$statement"`;
    die "psql on the replica failed: $statement\n" if $?;
    chomp $out;
    return $out;
}

sub pause  { sql("SELECT pg_wal_replay_pause()") }
sub resume { sql("SELECT pg_wal_replay_resume()") }

# waits (10 s at most) until the replica replayed the primary's WAL end
sub wait_caught_up {
    my $end = Tunesheap::Test::sql(
        "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn");
    my $deadline = time + 10;

    while (time < $deadline) {
        my $at = sql("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn");
        return 1 if length $at && $at >= $end;
        sleep 0.05;
    }

    die "the replica did not catch up with the primary in 10 s\n";
}

# where its log ends now
sub log_mark {
    return -s "$Dir/postgresql.log" // 0;
}

# the statements executed on the replica since $mark: "name(param, ...)"
sub executed {
    my ($mark) = @_;
    open my $fh, '<', "$Dir/postgresql.log" or die "replica log: $!\n";
    seek $fh, $mark, 0;
    my (@done, %last);

    # a statement's parameters follow it, from the same backend (pid)
    while (my $line = <$fh>) {
        if ($line =~ /\[(\d+)\].*LOG:  execute (\w+)/) {
            push @done, $2;
            $last{$1} = $#done;

        } elsif ($line =~ /\[(\d+)\].*DETAIL:  parameters: (.*)/
                 && defined $last{$1})
        {
            my ($pid, $params) = ($1, $2);
            my @p = $params =~ /\$\d+ = (?:'([^']*)'|NULL)/g;
            $done[$last{$pid}] .= '(' . join(',', map { $_ // 'NULL' } @p) . ')';
            delete $last{$pid};
        }
    }

    # the poll of its replay is not a read
    return grep { !/^ts_replayed/ } @done;
}

1;

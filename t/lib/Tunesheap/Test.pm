package Tunesheap::Test;

# Defaults shared by Tunesheap's suites: a block without --- http_config
# gets the test database, one without --- config gets the API location.
# Works with our harness and with the real Test::Nginx::Socket alike.

use strict;
use warnings;

use Test::Nginx::Socket ();
use Test::More ();
use IO::Socket::INET ();
use HTTP::Tiny ();
use POSIX ();

sub http_config {
    my (%opt) = @_;
    my $dsn = $opt{dsn} // $ENV{TEST_NGINX_PG_DSN};
    my $args = $opt{args} // 'pool=4';
    my $conf = qq{tunesheap_postgres "$dsn" $args;\n};
    $conf .= "tunesheap_redis $opt{redis};\n" if $opt{redis};
    return $conf;
}

# http_config with the suite's Redis as the cache
sub cached_config {
    return http_config(redis => $ENV{TEST_NGINX_REDIS}, @_);
}

# The API location keeping audio under the suite's media root, and the
# internal location nginx serves those files from; $extra goes into the
# API's location, $media_extra into the files'.
our $MediaSecret = 'test-media-secret-0123456789';

sub media_config {
    my (%opt) = @_;
    my $root = $ENV{TEST_NGINX_MEDIA};
    my $extra = $opt{extra} // '';
    my $media_extra = $opt{media_extra} // '';
    return <<"END";
location /api/v1/ {
    tunesheap_api;
    tunesheap_media_root $root;
    tunesheap_media_secret $MediaSecret;
    client_body_temp_path $root/.tmp;
    client_max_body_size 60m;
    $extra
}
location /_tunesheap_media/ {
    internal;
    alias $root/;
    $media_extra
}
END
}

# a link to a song's stream, expiring at $expires, signed as the module
# signs them; with $key (the file's name) it names the file too
sub stream_link {
    my ($id, $expires, $secret, $key) = @_;
    $expires = int $expires;    # the harness may give a HiRes time()
    require Digest::SHA;
    my $text = "$id:$expires" . (defined $key ? ":$key" : '');
    my $sig = Digest::SHA::hmac_sha256_base64($text, $secret // $MediaSecret);
    $sig =~ tr{+/}{-_};
    return "/api/v1/songs/$id/stream?expires=$expires"
        . (defined $key ? "&key=$key" : '') . "&signature=$sig";
}

# the whole of a file, as bytes
sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# a DSN whose artists take $seconds to read (t/data/slow.sql)
sub slow_dsn {
    my ($seconds) = @_;
    return "$ENV{TEST_NGINX_PG_DSN} options='-c search_path=slow,public"
        . " -c tunesheap.sleep=$seconds'";
}

# Runs db/pg.sh on the suite's Postgres (t/run.sh sets these variables).
sub pg_ctl {
    my (@args) = @_;
    my @cmd = ($ENV{TEST_NGINX_PG_CTL}, $args[0], $ENV{TEST_NGINX_PG_DATA},
               @args[1 .. $#args]);
    system(@cmd) == 0 or die "@cmd failed\n";
}

# Runs db/redis.sh on the suite's Redis (start, stop, restart, cli ...).
sub redis_ctl {
    my ($cmd, @args) = @_;
    my @line = ($ENV{TEST_NGINX_REDIS_CTL}, $cmd, $ENV{TEST_NGINX_REDIS_DIR},
                @args);
    my $out = `@line`;
    die "@line failed\n" if $?;
    chomp $out;
    return $out;
}

# Runs SQL on the suite's database as the superuser; returns its output.
sub sql {
    my ($statement) = @_;
    my $out = `$ENV{TEST_NGINX_PG_CTL} psql $ENV{TEST_NGINX_PG_DATA} tunesheap -Atc "$statement"`;
    die "psql failed: $statement\n" if $?;
    chomp $out;
    return $out;
}

# One request to the block's nginx, for suites that need a value from one
# answer in the next (an ETag, an id): (status, headers, body).
sub server_port {
    return $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
}

sub http {
    my ($method, $path, %opt) = @_;
    my $port = $opt{port} // server_port();
    my $res = HTTP::Tiny->new(timeout => 10 * slowdown(), max_redirect => 0,
        ($opt{from} ? (local_address => $opt{from}) : ()))->request(
        $method, "http://127.0.0.1:$port$path",
        {
            headers => $opt{headers} // {},
            (defined $opt{body} ? (content => $opt{body}) : ()),
        });
    record($method, $path, $res);
    return ($res->{status}, $res->{headers}, $res->{content});
}

# hands an answer of http() to the harness's recorder (TS_RECORD), when
# the harness has one
sub record {
    my ($method, $path, $res) = @_;
    my $rec = Test::Nginx::Socket->can('record_response');
    return unless $rec && $ENV{TS_RECORD} && $res->{status} < 599;
    require HTTP::Response;
    my $r = HTTP::Response->new($res->{status});
    for my $h (keys %{ $res->{headers} }) {
        my $v = $res->{headers}{$h};
        $r->header($h => ref $v ? join(', ', @$v) : $v);
    }
    $r->content($res->{content} // '');
    $rec->(undef, { method => $method, target => $path }, 0, $r);
}

# A shipped file of conf/ as text for a block's --- http_config or
# --- config, its includes of conf/tunesheap-*.conf inlined; directives
# the harness sets itself (keepalive_timeout) are left out.
sub shipped_conf {
    my ($file) = @_;
    my $dir = ($ENV{TEST_NGINX_CONF_DIR} // 'conf');
    open my $fh, '<', "$dir/$file" or die "$dir/$file: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    $text =~ s/^\s*keepalive_timeout\s[^;]*;//mg;
    $text =~ s/^\s*include\s+(tunesheap-[\w.-]+\.conf)\s*;/shipped_conf($1)/mge;
    return $text;
}

# A second nginx beside the block's, with the same configuration on the
# next port: another node of the fleet.  Returns its port.
my $Second;

sub start_second_nginx {
    my $root = $ENV{TEST_NGINX_SERVROOT} // 't/servroot';
    my $dir = "$root-second";
    my $port = server_port() + 1;

    open my $in, '<', "$root/conf/nginx.conf" or die "$root: $!";
    my $conf = do { local $/; <$in> };
    close $in;

    $conf =~ s/\Q$root\E/$dir/g;
    $conf =~ s/listen\s+(?:127\.0\.0\.1:)?\d+/listen 127.0.0.1:$port/;
    # under valgrind the block's nginx runs in the foreground: this one not
    $conf =~ s/^\s*daemon\s+off;/daemon on;/m;

    system('rm', '-rf', $dir);
    mkdir $_ for $dir, "$dir/conf", "$dir/logs", "$dir/html";
    open my $out, '>', "$dir/conf/nginx.conf" or die "$dir: $!";
    print $out $conf;
    close $out;

    my $nginx = $ENV{TEST_NGINX_BINARY} // 'nginx';
    # under our harness's valgrind, this one too (its own log)
    my @vg = valgrind() ? Test::Nginx::Util::valgrind_cmd(
                              "$dir/logs/valgrind.log") : ();
    system(@vg, $nginx, '-p', "$dir/", '-c', "$dir/conf/nginx.conf") == 0
        or die "the second nginx did not start\n";
    $Second = $dir;

    for (1 .. 50 * slowdown()) {
        return $port if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $port);
        select(undef, undef, undef, 0.1);
    }

    die "the second nginx does not answer on $port\n";
}

sub stop_second_nginx {
    return unless $Second && open my $fh, '<', "$Second/logs/nginx.pid";
    my $pid = <$fh>;
    chomp $pid;
    kill 'QUIT', $pid;
    for (1 .. 60 * slowdown()) {
        last unless kill 0, $pid;
        select(undef, undef, undef, 0.1);
    }
    my $killed = (kill 0, $pid) ? kill('KILL', $pid) : 0;
    Test::Nginx::Util::valgrind_verdict("$0 the second nginx",
        "$Second/logs/valgrind.log", $killed ? 9 : undef) if valgrind();
    undef $Second;
}

# our harness runs nginx under valgrind (the real one has no
# valgrind_cmd: its second nginx runs as it is)
sub valgrind {
    return $ENV{TEST_NGINX_USE_VALGRIND}
           && defined &Test::Nginx::Util::valgrind_cmd;
}

# how many times longer a wait for nginx may take: under valgrind (either
# harness) TEST_NGINX_VALGRIND_SLOWDOWN, as our harness scales timeouts
sub slowdown {
    return $ENV{TEST_NGINX_USE_VALGRIND}
           ? $ENV{TEST_NGINX_VALGRIND_SLOWDOWN} || 10 : 1;
}

# Waits, at most 5 s, until a query of ours sleeps inside Postgres.
sub wait_for_sleeping_query {
    for (1 .. 50 * slowdown()) {
        my $n = `$ENV{TEST_NGINX_PG_CTL} psql $ENV{TEST_NGINX_PG_DATA} tunesheap -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"`;
        return 1 if $n && $n > 0;
        select(undef, undef, undef, 0.1);
    }
    die "no query of ours is sleeping in Postgres\n";
}

# Another session holds artist $id's row (FOR UPDATE) for $secs: a new
# album of that artist waits for it (its foreign key check).  Returns once
# the lock is held; the pid to wait for.
sub hold_artist {
    my ($id, $secs) = @_;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        exec($ENV{TEST_NGINX_PG_CTL}, 'psql', $ENV{TEST_NGINX_PG_DATA},
             'tunesheap', '-qAtc',
             "BEGIN; SELECT 1 FROM artists WHERE id = $id FOR UPDATE;"
             . " SELECT pg_sleep($secs); COMMIT;")
            or POSIX::_exit(1);
    }

    wait_for_sleeping_query();
    return $pid;
}

# Checks that `nginx -t` refuses a configuration and says why: HTTP goes
# into the http block, LOCATION into a location with tunesheap_api.  Two
# checks (refused, the message), named after the directives.
sub refused_config {
    my (%a) = @_;
    my $dir = "$ENV{TEST_NGINX_SERVROOT}-refused";
    my $directives = join ' ', grep { length } $a{http} // '', $a{location} // '';

    mkdir $dir;
    mkdir "$dir/logs";
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "load_module $ENV{TEST_NGINX_LOAD_MODULES};\n"
        . "events {}\nhttp { " . ($a{http} // '')
        . " server { listen 127.0.0.1:1;"
        . " location / { tunesheap_api; " . ($a{location} // '') . " } } }\n";
    close $fh;
    my $out = `nginx -t -p $dir/ -c $dir/nginx.conf -e $dir/logs/error.log 2>&1`;
    Test::More::ok($? != 0, "refused: $directives");
    Test::More::like($out, qr/\Q$a{error}\E/, "saying why: $a{error}");
}

# Waits, at most 5 s, until no query sleeps inside Postgres: a block
# that waits for its own query to sleep must not see the previous block's
# (cancelled by statement_timeout only after nginx stopped).
sub wait_for_no_sleeping_query {
    for (1 .. 50 * slowdown()) {
        my $n = `$ENV{TEST_NGINX_PG_CTL} psql $ENV{TEST_NGINX_PG_DATA} tunesheap -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"`;
        return 1 if defined $n && $n =~ /^0$/m;
        select(undef, undef, undef, 0.1);
    }
    die "queries of a previous block still sleep in Postgres\n";
}

# Requests sent from child processes, left in flight while the block's
# own requests run: bg_get() starts one, bg_pending() says whether every
# answer is still to come, bg_wait() returns the oldest's raw response.
my @Bg;

sub bg_get {
    my ($path) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        close $r;
        my $resp = '';
        eval {
            local $SIG{ALRM} = sub { die "timeout\n" };
            alarm 20 * slowdown();
            my $s = IO::Socket::INET->new(
                PeerAddr => '127.0.0.1',
                PeerPort => $ENV{TEST_NGINX_SERVER_PORT}
                            // $ENV{TEST_NGINX_PORT} // 1984,
            ) or die "connect: $!\n";
            print $s "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                     . "Connection: close\r\n\r\n";
            while (sysread $s, my $buf, 65536) {
                $resp .= $buf;
            }
        };
        syswrite $w, $@ ? "ERROR: $@" : $resp;
        POSIX::_exit(0);
    }

    close $w;
    push @Bg, { pid => $pid, fh => $r };
}

# the child writes its answer only once complete: nothing to read yet
sub bg_pending {
    return 0 unless @Bg;
    my $rin = '';
    vec($rin, fileno($_->{fh}), 1) = 1 for @Bg;
    return select($rin, undef, undef, 0) == 0;
}

sub bg_wait {
    my $bg = shift @Bg;
    my $fh = $bg->{fh};
    my $resp = do { local $/; <$fh> };
    close $fh;
    waitpid $bg->{pid}, 0;
    return $resp;
}

# No key, secret or signature in any log at any level (issue 10): after
# every block, the lines its nginx (and a second one) added to error.log
# and access.log hold no API key ("tsk_" and more than 3 characters, not
# masked), no media secret, and error.log no signature= value.
our @Secrets = ($MediaSecret);
my %LogSeen;    # file -> [inode, bytes already read]

sub log_secrets {
    my ($name) = @_;
    my $root = $ENV{TEST_NGINX_SERVROOT} // 't/servroot';
    my @found;
    for my $file (map { ("$_/logs/error.log", "$_/logs/access.log") }
                  $root, "$root-second")
    {
        my @st = stat $file or next;
        my $seen = $LogSeen{$file};
        my $from = ($seen && $seen->[0] == $st[1] && $seen->[1] <= $st[7])
                   ? $seen->[1] : 0;
        open my $fh, '<:raw', $file or next;
        seek $fh, $from, 0;
        while (my $line = <$fh>) {
            my $bad = $line =~ /tsk_[A-Za-z0-9_]{4,}/ ? $&
                    : (grep { index($line, $_) >= 0 } @Secrets)[0];
            $bad //= $& if $file =~ /error\.log$/
                           && $line =~ /signature=[-_~A-Za-z0-9%]{8,}/i;
            push @found, "$file: $bad" if defined $bad;
        }
        $LogSeen{$file} = [$st[1], tell $fh];
        close $fh;
    }
    my $n = @found;
    splice @found, 5 if @found > 5;
    Test::More::is(join("\n", @found), '', "$name - no secret in the logs")
        or Test::More::diag("$n lines with a secret");
}

# The ETag of an answer's body (its final newline left out), as
# src/ts_http.c makes it: MurmurHash64A, 16 hex digits.  The
# multiplications wrap at 64 bits under "use integer"; the shifts are
# logical outside it.
sub body_etag {
    my ($body) = @_;
    no warnings qw(portable);
    my $m = 0xc6a4a7935bd1e995;
    my ($h, $k);

    utf8::encode($body) if utf8::is_utf8($body);
    $body =~ s/\n\z//;

    my $len = length $body;
    my $n = $len - $len % 8;

    { use integer; $h = $len * $m; }

    for (my $i = 0; $i < $n; $i += 8) {
        $k = unpack 'Q<', substr($body, $i, 8);
        { use integer; $k *= $m; }
        $k ^= $k >> 47;
        { use integer; $k *= $m; $h ^= $k; $h *= $m; }
    }

    if ($len % 8) {
        for (my $j = $len % 8; $j; $j--) {
            $h ^= ord(substr($body, $n + $j - 1, 1)) << (8 * ($j - 1));
        }
        { use integer; $h *= $m; }
    }

    $h ^= $h >> 47;
    { use integer; $h *= $m; }
    $h ^= $h >> 47;

    return sprintf '"%016x"', $h;
}

sub import {
    Test::Nginx::Socket::add_test_cleanup_handler(sub {
        log_secrets($_[0]->name);
    });

    # after each request: --- pg_after eval ["stop", undef, "start"] runs
    # db/pg.sh on the suite's Postgres ("sql:..." runs that statement,
    # "redis:stop" db/redis.sh on its Redis, "redis-busy:2" blocks it for
    # 2 s, "sleep:1.5" waits); --- bg_response_like checks the
    # requests started by bg_get() were still pending, then their answers
    # (one pattern, or a list of them in the order they were started;
    # with --- bg_first, the block's own request was answered after them)
    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
        my $name = $block->name;

        if (defined $block->bg_response_like && $req_idx == 0
            && $repeated_req_idx == 0)
        {
            # --- bg_first: the block's request was queued behind them
            my $like = $block->bg_response_like;
            Test::More::ok(bg_pending(),
                           "$name - the slow request is still in flight")
                unless defined $block->bg_first;
            for my $re (ref $like ? @$like : ($like)) {
                Test::More::like(bg_wait(), qr/$re/s,
                                 "$name - the slow request's answer");
            }
        }

        my $after = $block->pg_after;
        if (defined $after && defined $after->[$req_idx]
            && $after->[$req_idx] =~ /^sql:(.*)/s)
        {
            sql($1);

        } elsif (defined $after && defined $after->[$req_idx]
                 && $after->[$req_idx] =~ /^redis:(\w+)$/)
        {
            redis_ctl($1);

        } elsif (defined $after && defined $after->[$req_idx]
                 && $after->[$req_idx] =~ /^sleep:([\d.]+)$/)
        {
            select(undef, undef, undef, $1);

        } elsif (defined $after && defined $after->[$req_idx]
                 && $after->[$req_idx] =~ /^redis-busy:(\d+)$/)
        {
            # Redis busy for N seconds (DEBUG SLEEP), in the background
            my $pid = fork // die "fork: $!";
            if ($pid == 0) {
                redis_ctl('cli', 'DEBUG', 'SLEEP', $1);
                POSIX::_exit(0);
            }
            select(undef, undef, undef, 0.2);

        } elsif (defined $after && defined $after->[$req_idx]) {
            pg_ctl($after->[$req_idx]);

            # past the pool's reconnect backoff (at most 1 s) after failures
            select(undef, undef, undef, 1.1) if $after->[$req_idx] eq 'start';
        }
    });

    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;

        if (!defined $block->http_config) {
            $block->set_value('http_config', http_config());
        }

        if (!defined $block->config) {
            $block->set_value('config',
                "location /api/v1/ { tunesheap_api; }\n");
        }
    });
}

# Misses in one turn of nginx's loop: Redis is frozen while a request for
# each of @paths sends its lookup; thawed, it answers them together.
# Returns the lines $line->($path, $status, $headers, $body) made, sorted,
# and the prepared statements Postgres ran meanwhile, in order.
sub one_turn {
    my ($line, @paths) = @_;
    my $log = "$ENV{TEST_NGINX_PG_DATA}/postgresql.log";
    sql("ALTER SYSTEM SET log_statement = 'all'");
    sql("SELECT pg_reload_conf()");
    http(GET => "/api/v1/health");
    my $from = -s $log;
    my $pid = slurp("$ENV{TEST_NGINX_REDIS_DIR}/redis.pid");
    chomp $pid;
    kill 'STOP', $pid or die "cannot stop redis $pid";
    pipe(my $r, my $w) or die;
    my @pids;
    for my $path (@paths) {
        my $p = fork // die;
        if ($p == 0) {
            close $r;
            syswrite $w, $line->($path, http(GET => $path)) . "\n";
            POSIX::_exit(0);
        }
        push @pids, $p;
    }
    close $w;
    select(undef, undef, undef, 0.5);
    kill 'CONT', $pid;
    waitpid $_, 0 for @pids;
    my @seen = sort map { chomp; $_ } <$r>;
    sql("ALTER SYSTEM RESET log_statement");
    sql("SELECT pg_reload_conf()");
    open my $fh, '<', $log or die "$log: $!";
    seek $fh, $from, 0;
    my @run = map { /execute (\w+):/ ? $1 : () } <$fh>;
    return (\@seen, \@run);
}

1;

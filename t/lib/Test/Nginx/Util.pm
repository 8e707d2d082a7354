package Test::Nginx::Util;

# A small, self-contained re-implementation of the parts of
# openresty/test-nginx's Test::Nginx::Util that this project uses:
# global settings, server root and nginx.conf generation, starting and
# stopping nginx, error.log access and the per-block test driver.
#
# The HTTP client side (request building, response parsing and checks)
# lives in Test::Nginx::Socket, which plugs itself in through
# $RunTestHelper / $CheckErrorLog, exactly like the real module does.
#
# See t/README.md for what is supported and how it differs from the real
# Test::Nginx.

use strict;
use warnings;

use base 'Exporter';

use Carp qw(croak);
use Cwd ();
use File::Path qw(remove_tree make_path);
use File::Spec ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX qw(:sys_wait_h SIGQUIT SIGKILL SIGTERM);
use Test::More ();
use Test::LongString ();
use Time::HiRes qw(sleep time);

our $VERSION = '0.01';

# ---------------------------------------------------------------------------
# Settings (same names and environment variables as the real module)
# ---------------------------------------------------------------------------

sub can_run ($);

our $NginxBinary = $ENV{TEST_NGINX_BINARY}
    || (can_run('nginx') ? 'nginx' : '/usr/sbin/nginx');

our $ServerAddr          = '127.0.0.1';
our $ServerName          = 'localhost';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                           || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;

our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled       = 'on';
our $Workers             = 1;
our $WorkerConnections   = 64;
our $RepeatEach          = 1;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation      = 0;
our $NoLongString;
our $CheckAccumErrLog    = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $TestNginxSleep      = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $Verbose             = $ENV{TEST_NGINX_VERBOSE};
our $LoadModules         = $ENV{TEST_NGINX_LOAD_MODULES};
our $UseValgrind         = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindSupp        = $ENV{TEST_NGINX_VALGRIND_SUPP};
# (ours) every valgrind log and a line per nginx run kept in this directory
our $ValgrindLogs        = $ENV{TEST_NGINX_VALGRIND_LOGS};
# (ours) under valgrind the client's timeouts are this many times longer
our $ValgrindSlowdown    = $UseValgrind
                           ? $ENV{TEST_NGINX_VALGRIND_SLOWDOWN} || 10 : 1;
our $ValgrindErrorExit   = 99;    # valgrind's exit code when it reports
# (ours) seconds to let nginx under valgrind finish starting: it listens
# before its worker's init (a module's connections) has run
our $ValgrindSettle      = $ENV{TEST_NGINX_VALGRIND_SETTLE} // 1;
our $ValgrindRuns        = 0;
our $ForceRestartOnTest  = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                           ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $ConfigPreamble      = '';

# How long we wait for nginx to come up / go down (seconds).  valgrind
# makes everything an order of magnitude slower.
our $StartTimeout        = $UseValgrind ? 60 : 5;
our $StopTimeout         = $UseValgrind ? 60 : 3;

# nginx under valgrind must stay in the foreground so we can wait for it.
$DaemonEnabled = 'off' if $UseValgrind;

our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');
our $CacheDir   = File::Spec->catfile($ServRoot, 'cache');
our $StartErrFile    = File::Spec->catfile($LogDir, 'nginx-start.stderr');
our $ValgrindLogFile = File::Spec->catfile($LogDir, 'valgrind.log');

# Hooks and runtime state.
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @TestCleanupHandlers;
our $RunTestHelper;         # set by Test::Nginx::Socket
our $CheckErrorLog;         # set by Test::Nginx::Socket
our $NginxVersion;          # canonical, e.g. "1.022001"
our $NginxRawVersion;       # e.g. "1.22.1"
our $PrevConfig;            # config of the block whose nginx is running
our $ErrLogFilePos = 0;     # where the current block's part of error.log starts
our $ChildPid;              # nginx pid when it is our own child (valgrind)
our %Reaped;                # pid -> wait status of our children reaped
our $RandPorts = {};        # $TEST_NGINX_RAND_PORT_N values of the block
our $MainPid = $$;          # forked children must not clean up nginx

our @EXPORT = qw(
    env_to_nginx is_str $NoLongString no_long_string
    $ServerAddr server_addr $ServerName server_name
    $ServerPort $ServerPortForClient server_port server_port_for_client
    $ServRoot $PidFile $ConfFile $NginxVersion $RepeatEach
    $RunTestHelper $CheckErrorLog
    parse_time bail_out add_cleanup_handler add_test_cleanup_handler
    access_log_data error_log_data expand_env_in_text trim show_all_chars
    parse_headers get_pid_from_pidfile is_running run_tests
    add_block_preprocessor timeout worker_connections workers
    master_on master_off master_process_enabled config_preamble
    repeat_each log_level no_shuffle no_root_location html_dir server_root
    check_accum_error_log sleep_time verbose
    use_hup no_nginx_manager
);

# ---------------------------------------------------------------------------
# Small setters / getters exported to test files
# ---------------------------------------------------------------------------

sub repeat_each (@)        { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)            { $Workers = shift if @_; $Workers }
sub worker_connections (@) { $WorkerConnections = shift if @_; $WorkerConnections }
sub log_level (@)          { $LogLevel = shift if @_; $LogLevel }
sub timeout (@)            { $Timeout = shift if @_; $Timeout }
sub server_addr (@)        { $ServerAddr = shift if @_; $ServerAddr }
sub server_name (@)        { $ServerName = shift if @_; $ServerName }
sub server_port (@)        { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client (@) {
    $ServerPortForClient = shift if @_;
    $ServerPortForClient;
}
sub master_on ()           { $MasterProcessEnabled = 'on' }
sub master_off ()          { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    $MasterProcessEnabled = (shift() ? 'on' : 'off') if @_;
    $MasterProcessEnabled;
}
sub no_shuffle ()          { $NoShuffle = 1 }
sub no_root_location ()    { $NoRootLocation = 1 }
sub no_long_string ()      { $NoLongString = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub config_preamble ($)    { $ConfigPreamble = shift }
sub html_dir ()            { $HtmlDir }
sub server_root ()         { $ServRoot }
sub sleep_time ()          { $TestNginxSleep }
sub verbose ()             { $Verbose }

sub add_block_preprocessor (&)  { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)      { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

# Features of the real module that this harness deliberately lacks: fail
# loudly instead of silently doing something different.
sub use_hup ()         { croak "use_hup() is not supported by this harness" }
sub no_nginx_manager () { croak "no_nginx_manager() is not supported by this harness" }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

# is() for strings: regex expectations use like(), long strings use
# Test::LongString unless no_long_string() was called.
sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# "1.5" / "1.5s" -> 1.5, "200ms" -> 0.2
sub parse_time ($) {
    my $tm = shift;
    return $tm unless defined $tm;
    $tm =~ s/^\s+|\s+$//g;
    if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
        $tm = $tm / 1000;
    } else {
        $tm =~ s/([^_a-zA-Z])s$/$1/;
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/gs;
    $s =~ s/\r/\\r/gs;
    $s =~ s/\t/\\t/gs;
    return $s;
}

# "Name: value" lines -> { Name => value }; "!Name" -> { Name => undef }
# (meaning: the header must be absent).
sub parse_headers ($) {
    my $s = shift;
    my %headers;
    for my $line (split /\n/, $s) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $headers{$key} = $val;
        }
    }
    return \%headers;
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# Processes and files
# ---------------------------------------------------------------------------

sub can_run ($) {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x _) ? $cmd : undef;
    }
    for my $dir (split /:/, $ENV{PATH} || '') {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x _;
    }
    return undef;
}

# True if the process exists and is not a zombie.  (A daemonized nginx is
# not our child; when prove runs as PID 1 of a PID namespace nobody reaps
# it, and "kill 0" alone would report the zombie as running.)
sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid && $pid =~ /^\d+$/;
    # reap it if it is our own child
    $Reaped{$pid} = $? if waitpid($pid, WNOHANG) == $pid;
    return 0 unless kill 0, $pid;
    if (open my $in, '<', "/proc/$pid/stat") {
        my $stat = <$in>;
        close $in;
        return 0 if defined $stat && $stat =~ /^\d+ \(.*\) Z /s;
    }
    return 1;
}

sub slurp ($) {
    my $file = shift;
    open my $in, '<', $file or return undef;
    local $/;
    my $data = <$in>;
    close $in;
    return $data;
}

sub tail_file ($$) {
    my ($file, $n) = @_;
    my $data = slurp($file);
    return "(cannot read $file)\n" unless defined $data;
    my @lines = split /^/m, $data;
    splice @lines, 0, @lines - $n if @lines > $n;
    return join '', @lines;
}

sub get_pid_from_pidfile ($) {
    my $pid = slurp($PidFile);
    return undef unless defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to run \"$NginxBinary -V\": " . ($out // ''));
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        return sprintf "%d.%03d%03d", $1, $2, $3;
    }
    bail_out("Failed to parse the output of \"$NginxBinary -V\": $out");
}

# Is anything listening on TCP port $port?  Read from /proc so that we do
# not have to connect (a probe connection would add "client closed
# connection" lines to error.log).  Returns undef if /proc is unavailable.
sub port_listening ($) {
    my $port = shift;
    my $seen_proc;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        $seen_proc = 1;
        while (<$in>) {
            # sl local_address rem_address st ...; st 0A == LISTEN
            if (/^\s*\d+:\s+[0-9A-Fa-f]+:([0-9A-Fa-f]+)\s+\S+\s+0A\s/
                && hex($1) == $port)
            {
                close $in;
                return 1;
            }
        }
        close $in;
    }
    return $seen_proc ? 0 : undef;
}

# Stop the nginx started for a previous block (pid file based): QUIT,
# wait, then KILL after a bounded time.  Never kills anything by name.
sub stop_nginx ($) {
    my $name = shift;
    my $pid = get_pid_from_pidfile($name);
    $pid = $ChildPid if !defined $pid && defined $ChildPid;

    if (defined $pid && is_running($pid)) {
        warn "$name - sending QUIT to nginx $pid\n" if $Verbose;
        kill SIGQUIT, $pid;
        my $deadline = time + $StopTimeout;
        while (is_running($pid) && time < $deadline) {
            sleep 0.01;
        }
        if (is_running($pid)) {
            warn "$name - nginx $pid did not exit within ${StopTimeout}s "
                 . "after SIGQUIT; sending SIGKILL\n";
            kill SIGKILL, $pid;
            $deadline = time + 2;
            while (is_running($pid) && time < $deadline) {
                sleep 0.01;
            }
        }
    }

    if (defined $ChildPid) {
        # reap our own (valgrind) child
        $Reaped{$ChildPid} = $? if waitpid($ChildPid, WNOHANG) == $ChildPid;
        undef $ChildPid;
    }
    unlink $PidFile if -f $PidFile;
}

sub cleanup () {
    for my $hdl (@CleanupHandlers) {
        $hdl->();
    }
}

# Recreate an empty server root.  Like the real module, only the
# directories we create ourselves are removed, so a mis-set
# TEST_NGINX_SERVROOT cannot wipe real data.
sub setup_server_root () {
    if (-d $ServRoot) {
        remove_tree($ConfDir, $CacheDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        rmdir $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        make_path($dir) unless -d $dir;
        -d $dir or bail_out("Failed to create directory $dir");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

# --- user_files: ">>> name [YYYYmmddHHMM]" lines followed by content, or an
# eval'ed array of [name, body, date] triples.  Relative names go to html/.
sub write_user_files ($) {
    my $block = shift;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type for --- user_files: " . ref $files);
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/}) {
            make_path($1) unless -d $1;
        }
        $body = expand_env_in_text($body, $name);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to touch -t $date $path");
        }
    }
}

# Pick a free loopback port for $TEST_NGINX_RAND_PORT_N.
sub gen_rand_port ($) {
    my $used = shift;
    for (1 .. 1000) {
        my $port = 1988 + int rand 60000;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr, LocalPort => $port, Proto => 'tcp',
            Listen => 1, ReuseAddr => 1,
        ) or next;
        close $sock;
        return $port;
    }
    return undef;
}

# Replace every $TEST_NGINX_FOO by the value of the environment variable
# TEST_NGINX_FOO (bail out if it is not set, like the real module).
# $TEST_NGINX_RAND_PORT_N gets a free port, stable within one block.
sub expand_env_in_text ($$;$) {
    my ($text, $name) = @_;
    return $text unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $RandPorts->{$var}) {
                my %used = ($ServerPort => 1, map { $_ => 1 } values %$RandPorts);
                $RandPorts->{$var} = gen_rand_port(\%used)
                    // bail_out("$name - cannot find a free port for $var");
            }
            $val = $RandPorts->{$var};
        } else {
            defined $ENV{$var}
                or bail_out("$name - No environment $var defined.\n");
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

sub write_config_file ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text($block->http_config // '', $name);
    my $main_config = expand_env_in_text($block->main_config // '', $name);
    my $post_main_config = expand_env_in_text($block->post_main_config // '', $name);
    my $server_name = $block->server_name // $ServerName;
    $server_name =~ s/\\/\\\\/g;
    $server_name =~ s/'/\\'/g;
    $config //= '';

    # load_module lines must come first in the main context.
    my $modules = join '', map { "load_module $_;\n" }
                           grep { length } split /\s+/, ($LoadModules // '');

    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" }
                       ('LD_PRELOAD', 'LD_LIBRARY_PATH', @EnvToNginx);

    # temp paths under the server root, unless the test sets them itself
    # or nginx was built without the module.
    my $nginx_V = `$NginxBinary -V 2>&1` // '';
    my $temp_paths = '';
    $temp_paths .= " client_body_temp_path $ServRoot/client_body_temp;"
        unless $http_config =~ /\bclient_body_temp_path\b/;
    $temp_paths .= " proxy_temp_path $ServRoot/proxy_temp;"
        unless $http_config =~ /\bproxy_temp_path\b/;
    for my $m (qw(fastcgi scgi uwsgi)) {
        $temp_paths .= " ${m}_temp_path $ServRoot/${m}_temp;"
            unless $nginx_V =~ /--without-http_${m}_module/;
    }

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $user = $> == 0 ? "user root;\n" : '';

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!");
    print $out <<"_EOC_";
${modules}worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile;$temp_paths

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
$user
_EOC_
    close $out or bail_out("Failed to write $ConfFile: $!");
}

# Run a command with stdout to /dev/null and stderr to $errfile; return $?.
sub run_cmd ($$) {
    my ($cmd, $errfile) = @_;
    my $pid = fork;
    bail_out("fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $errfile;
        exec { $cmd->[0] } @$cmd or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return $?;
}

# valgrind's command line, logging to $log (default: logs/valgrind.log).
# Leaks: the definite ones (a block nothing points to any more) are
# errors; memory still reachable at exit is not.
sub valgrind_cmd (;$) {
    my $log = shift // $ValgrindLogFile;
    my @opts;
    if ($UseValgrind =~ /^\d+$/) {
        @opts = qw(--tool=memcheck --leak-check=full --keep-debuginfo=yes
                   --show-leak-kinds=definite --errors-for-leak-kinds=definite
                   --num-callers=50 --gen-suppressions=all);
    } else {
        @opts = split ' ', $UseValgrind;
    }
    my $supp = $ValgrindSupp;
    $supp = 'valgrind.suppress' if !defined $supp && -f 'valgrind.suppress';
    push @opts, "--suppressions=$supp" if defined $supp && length $supp;
    return ('valgrind', '-q', "--log-file=$log",
            "--error-exitcode=$ValgrindErrorExit", @opts);
}

# Report a failed nginx start as a test failure, with diagnostics.
sub fail_start ($$) {
    my ($name, $why) = @_;
    Test::More::fail("$name - nginx failed to start");
    my $stderr = slurp($StartErrFile) // '';
    Test::More::diag("$why\n"
        . "command: $NginxBinary -p $ServRoot/ -c $ConfFile\n"
        . "stderr:\n$stderr"
        . "error.log (tail):\n" . tail_file($ErrLogFile, 20));
    return 0;
}

# Start a fresh nginx for $block.  Returns true when nginx is up and
# listening; otherwise records a failure and returns false.
sub start_nginx ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;

    stop_nginx($name);
    setup_server_root();

    if (defined $block->post_setup_server_root) {
        eval $block->post_setup_server_root;
        bail_out("$name - post_setup_server_root failed: $@") if $@;
    }

    write_user_files($block);
    write_config_file($block, $config);

    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    # "-e" (early error log) exists since nginx 1.19.5.
    push @cmd, '-e', $ErrLogFile if $NginxVersion >= 1.019005;

    if ($UseValgrind) {
        unshift @cmd, valgrind_cmd();
        warn "$name\n";
        my $pid = fork;
        bail_out("fork() failed: $!") unless defined $pid;
        if ($pid == 0) {
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', $StartErrFile;
            exec { $cmd[0] } @cmd or POSIX::_exit(127);
        }
        $ChildPid = $pid;
    } else {
        # daemon mode: nginx returns once it has bound its sockets and
        # forked.  Retry for a while on EADDRINUSE (an old nginx may still
        # be releasing the port); any other error fails the block at once.
        my $deadline = time + $StartTimeout;
        while (1) {
            my $status = run_cmd(\@cmd, $StartErrFile);
            last if $status == 0;
            my $err = slurp($StartErrFile) // '';
            if ($err =~ /Address already in use/ && time < $deadline) {
                sleep 0.1;
                next;
            }
            return fail_start($name, "nginx exited with status "
                              . ($status >> 8) . " (raw $status)");
        }
    }

    # Wait (bounded) until the pid file names a live process that listens.
    my $deadline = time + $StartTimeout;
    while (1) {
        my $pid = get_pid_from_pidfile($name);
        if (defined $pid && is_running($pid)) {
            my $listening = port_listening($ServerPort);
            return 1 if !defined $listening || $listening;
        }
        if (defined $ChildPid && !is_running($ChildPid)) {
            undef $ChildPid;
            return fail_start($name, "nginx (under valgrind) exited early");
        }
        if (time > $deadline) {
            return fail_start($name, "nginx did not write its pid file or "
                              . "listen on port $ServerPort within "
                              . "${StartTimeout}s");
        }
        sleep 0.01;
    }
}

# After a block run under valgrind: stop nginx (so that leak reports are
# written) and fail if valgrind reported anything.  Only emits a test on
# failure, so test counts are the same with and without valgrind.
sub check_valgrind ($) {
    my $name = shift;
    my $pid = $ChildPid;
    stop_nginx($name);
    valgrind_verdict($name, $ValgrindLogFile,
                     defined $pid ? $Reaped{$pid} : undef);
}

# Fails $name if valgrind's $log has any report (a "==PID==" line), or if
# valgrind's wait $status (undef: not our child) says it reported or did
# not finish (killed: its leak check never ran).  With
# TEST_NGINX_VALGRIND_LOGS, keeps the log and a line per run there.
sub valgrind_verdict ($$$) {
    my ($name, $log, $status) = @_;
    my $text = slurp($log) // '';
    my $reports = () = $text =~ /^==\d+== \S/mg;
    my $why;
    if ($reports) {
        $why = "valgrind reported errors";
    } elsif (defined $status && ($status & 127)) {
        $why = "valgrind was killed (signal " . ($status & 127)
               . "): no leak check";
    } elsif (defined $status && ($status >> 8) == $ValgrindErrorExit) {
        $why = "valgrind exited with its error code";
    }

    if (defined $ValgrindLogs && length $ValgrindLogs) {
        make_path($ValgrindLogs) unless -d $ValgrindLogs;
        (my $suite = $name) =~ s{^(?:.*/)?([^/\s]+)\.t\b.*}{$1}s;
        my ($block) = $name =~ /\bTEST (\d+)/;
        my $file = sprintf "%s-%s-%d-%d.log", $suite,
                           defined $block ? "TEST$block" : 'x', $$,
                           ++$ValgrindRuns;
        if ($text ne '') {
            open my $out, '>', "$ValgrindLogs/$file" or die "$file: $!";
            print $out "# $name\n", $text;
            close $out;
        }
        open my $runs, '>>', "$ValgrindLogs/runs.tsv" or die "runs: $!";
        printf $runs "%s\t%s\t%s\t%s\n", ($why ? 'FAIL' : 'ok'),
               $status // '-', ($text ne '' ? $file : '-'), $name;
        close $runs;
    }

    if ($why) {
        Test::More::fail("$name - $why");
        Test::More::diag($text);
    }
}

# The lines of error.log logged since the previous call in this block
# (or all of them with check_accum_error_log()).
sub error_log_data () {
    # give nginx a moment for log-phase messages after the response
    sleep $TestNginxSleep * 3;
    open my $in, '<', $ErrLogFile or return undef;
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or die "open $AccLogFile failed: $!";
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# ---------------------------------------------------------------------------
# Block driver
# ---------------------------------------------------------------------------

sub run_tests () {
    $NginxVersion = get_nginx_version();

    # Blocks run in random order unless no_shuffle(); the seed can be
    # fixed with TEST_NGINX_SHUFFLE_SEED to reproduce an order.
    my $seed = $ENV{TEST_NGINX_SHUFFLE_SEED} // ($$ + int(time * 1000));
    srand $seed;

    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    if (!$NoShuffle) {
        Test::More::note("block order shuffled with TEST_NGINX_SHUFFLE_SEED=$seed");
        @blocks = shuffle @blocks;
    }

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }

    cleanup();
}

# Decide whether the block is skipped: returns ($ntests, $reason) or ().
sub skip_info ($) {
    my $block = shift;
    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- skip_eval spec: $spec");
        my ($n, $code) = ($1, $2);
        my $skip = eval $code;
        bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@")
            if $@;
        return ($n, 'skip_eval') if $skip;
    }

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $reason) = ($1, $2, $6);
        my $ver = sprintf "%d.%03d%03d", $3, $4, $5;
        my $skip = eval "$NginxVersion $op $ver";
        return ($n, $reason || "nginx version $op $3.$4.$5") if $skip;
    }

    return ();
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;
    $RandPorts = {};

    local $LogLevel = $block->log_level || $LogLevel;

    my $config = expand_env_in_text($block->config, $name);
    my ($skip_n, $skip_reason) = skip_info($block);

    my $todo_n;
    my $todo_reason;
    if (defined(my $todo = $block->todo)) {
        $todo =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $todo");
        ($todo_n, $todo_reason) = ($1, $2);
    }

    if (!defined $skip_n) {
        if (defined $config) {
            my $running = defined $PrevConfig
                && is_running(get_pid_from_pidfile($name) // 0);
            if ($ForceRestartOnTest || !$running || $config ne $PrevConfig) {
                $PrevConfig = $config;
                if (!start_nginx($block, $config)) {
                    undef $PrevConfig;
                    return;
                }
                sleep($UseValgrind ? $ValgrindSettle : $TestNginxSleep);
            }
        } elsif (!defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one.");
        }
        # else: no config -> keep talking to the nginx of the previous block
    }

    # --- init runs once per block, after nginx has been started and
    # before the (repeated) requests, exactly like the real module.  It
    # is evaluated in this package with $block in scope.
    if (defined $block->init) {
        eval $block->init;
        if ($@ && $UseValgrind && !defined $skip_n) {
            # one slow block must not stop the memcheck of all the others
            Test::More::fail("$name - init failed: $@");
            check_valgrind($name);
            return;
        }
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        if (defined $skip_n) {
          SKIP: {
                Test::More::skip("$name - $skip_reason", $skip_n);
            }
        } elsif (defined $todo_n) {
          TODO: {
                Test::More::todo_skip("$name - $todo_reason", $todo_n);
            }
        } else {
            $RunTestHelper->($block, undef, $i);
        }
    }

    check_valgrind($name) if $UseValgrind && !defined $skip_n;
}

END {
    # Only the test process itself cleans up; children forked by tests
    # (e.g. from --- init) must leave nginx alone.
    if (defined $MainPid && $$ == $MainPid) {
        local $?;    # do not disturb Test::Builder's exit code
        cleanup();
        stop_nginx('END') unless $ENV{TEST_NGINX_NO_CLEAN};
    }
}

1;

# Songs' audio in S3 behind CloudFront: presigned uploads checked byte for
# byte against botocore and carried out against a local S3 that verifies
# signatures (s3rver), CloudFront links verified with openssl on the key
# pair's public key, and S3's own presigned links without CloudFront.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use JSON::PP ();
use POSIX ();

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";
our $S3 = $ENV{TEST_NGINX_S3};
our $Tone = Tunesheap::Test::slurp("$ENV{TEST_NGINX_AUDIO}/tone.mp3");
our $Domain = "d111111abcdef8.cloudfront.net";
our $CloudFront = "tunesheap_media_cloudfront domain=$Domain"
    . " key_pair_id=KTESTPAIR private_key=$ENV{TEST_NGINX_CLOUDFRONT_KEY};";

# the S3 checks of upload/complete: a subrequest proxied to S3
our $S3Location = "location = /_tunesheap_s3 {\n    internal;\n"
    . "    proxy_pass \$tunesheap_s3_url;\n"
    . "    subrequest_output_buffer_size 64k;\n}\n";

sub s3_config {
    my ($extra, $checks) = @_;
    return "location /api/v1/ {\n    tunesheap_api;\n"
        . "    tunesheap_media_s3 bucket=tunes region=us-east-1"
        . " endpoint=$S3 access_key=S3RVER secret_key=S3RVER;\n"
        . "    " . ($extra // '') . "\n}\n"
        . ($checks // $S3Location);
}

# upload: a presigned PUT of that many bytes; the PUT; its key
sub upload {
    my ($id, $type, $bytes, $length) = @_;
    my ($st, $h, $body) = api(POST => "/api/v1/songs/$id/upload",
        qq({"content_type":"$type","size":) . ($length // length $bytes) . '}');
    die "upload: $st $body" unless $st == 200;
    my $up = JSON::PP::decode_json($body);
    my $res = HTTP::Tiny->new(timeout => 10)->request(PUT => $up->{upload_url},
        { headers => { 'Content-Type' => $type }, content => $bytes });
    return ($up->{key}, $res->{status});
}

# what botocore presigns for the same inputs and clock
sub botocore {
    my (%a) = @_;
    my @cmd = ('/usr/bin/python3', 't/tools/presign.py', '--bucket', 'tunes',
               '--region', 'us-east-1', '--endpoint', $S3,
               '--access-key', 'S3RVER', '--secret-key', 'S3RVER',
               map { ("--$_", $a{$_}) } sort keys %a);
    open my $fh, '-|', @cmd or die "presign.py: $!";
    my $url = <$fh>;
    close $fh or die "presign.py failed\n";
    chomp $url;
    return $url;
}

sub epoch_of_amz_date {
    my ($d) = @_;
    my ($Y, $m, $dd, $H, $M, $S) = $d =~ /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/
        or die "X-Amz-Date $d";
    local $ENV{TZ} = 'UTC';
    POSIX::tzset();
    return POSIX::mktime($S, $M, $H, $dd, $m - 1, $Y - 1900);
}

sub cloudfront_ok {
    my ($url) = @_;
    system("t/tools/cloudfront-verify.sh '$url' '$ENV{TEST_NGINX_CLOUDFRONT_PUB}' >/dev/null 2>&1");
    return $? == 0;
}

sub api {
    my ($method, $path, $body) = @_;
    return Tunesheap::Test::http($method, $path,
        headers => { Authorization => "Bearer tsk_test_writer",
                     'Content-Type' => 'application/json' },
        (defined $body ? (body => $body) : ()));
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', s3_config($CloudFront))
        unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an upload URL: botocore's, byte for byte; the PUT lands in S3
--- init
my $len = length $::Tone;
my ($st, $h, $body) = main::api(POST => "/api/v1/songs/5/upload",
                                qq({"content_type":"audio/mpeg","size":$len}));
Test::More::is($st, 200, "an upload URL");
my $up = JSON::PP::decode_json($body);
Test::More::like($up->{key}, qr{^songs/5-[0-9a-f]{16}\.mp3$}, "a key made for song 5");
Test::More::is($up->{method}, "PUT", "to PUT");
Test::More::is($up->{headers}{'Content-Type'}, "audio/mpeg", "with its type");
Test::More::is($up->{headers}{'Content-Length'}, "$len", "and its length");
Test::More::like($up->{upload_url}, qr/X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&/,
                 "both signed");
my ($date) = $up->{upload_url} =~ /X-Amz-Date=(\w+)/;
my $now = main::epoch_of_amz_date($date);
Test::More::cmp_ok(abs($now - time), '<', 10, "signed now");
Test::More::is($up->{expires_at}, POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($now + 3600)),
               "expires_at says when");
Test::More::is($up->{upload_url},
               main::botocore(key => $up->{key}, expires => 3600, now => $now,
                              'content-type' => 'audio/mpeg',
                              'content-length' => $len, method => 'PUT'),
               "the URL botocore presigns for the same key and clock");

my $http = HTTP::Tiny->new(timeout => 10);
(my $tampered = $up->{upload_url}) =~ s/X-Amz-Signature=(.)/'X-Amz-Signature=' . ($1 eq 'a' ? 'b' : 'a')/e;
my $res = $http->request(PUT => $tampered,
    { headers => { 'Content-Type' => 'audio/mpeg' }, content => $::Tone });
Test::More::is($res->{status}, 403, "a tampered URL is refused by S3");
$res = $http->request(PUT => $up->{upload_url},
    { headers => { 'Content-Type' => 'audio/ogg' }, content => $::Tone });
Test::More::is($res->{status}, 403, "so is another Content-Type");
# s3rver takes any length; the signature (checked in t/tools/s3rver.js as
# S3 does) covers Content-Length: a byte more or less is refused
$res = $http->request(PUT => $up->{upload_url},
    { headers => { 'Content-Type' => 'audio/mpeg' }, content => $::Tone . "x" });
Test::More::is($res->{status}, 403, "so is a longer body");
$res = $http->request(PUT => $up->{upload_url},
    { headers => { 'Content-Type' => 'audio/mpeg' }, content => substr($::Tone, 1) });
Test::More::is($res->{status}, 403, "and a shorter one");
Test::More::is($http->get("$::S3/tunes/$up->{key}")->{status}, 404, "nothing landed");
$res = $http->request(PUT => $up->{upload_url},
    { headers => { 'Content-Type' => 'audio/mpeg' }, content => $::Tone });
Test::More::is($res->{status}, 200, "our URL uploads to S3");
$res = $http->get("$::S3/tunes/$up->{key}");
Test::More::ok($res->{content} eq $::Tone, "the object holds the file");
$main::Uploaded = $up->{key};
--- request
GET /api/v1/songs/5
--- error_code: 200
--- response_body_like: "audio":null,"stream_url":null\}\}$



=== TEST 2: complete records the object as its bytes say; stream_url is a CloudFront link
The duration and bit rate sent are not the object's: what is recorded
comes from its bytes, read back from S3.
--- init
my ($st, $h, $body) = main::api(POST => "/api/v1/songs/5/upload/complete",
    qq({"key":"$main::Uploaded","size":) . length($::Tone)
    . qq(,"duration_ms":999999,"bitrate_kbps":320}));
Test::More::is($st, 200, "recorded");
Test::More::is($body, qq({"audio":{"content_type":"audio/mpeg","size":)
    . length($::Tone) . qq(,"bitrate_kbps":128,"duration_ms":3030}}\n), "its audio");
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/5");
my ($url) = $body =~ /"stream_url":"([^"]+)"/;
Test::More::like($url, qr{^https://\Q$::Domain\E/\Q$main::Uploaded\E\?Expires=(\d+)&Signature=[-_~A-Za-z0-9]+&Key-Pair-Id=KTESTPAIR$},
                 "a CloudFront signed URL");
my ($e) = $url =~ /Expires=(\d+)/;
Test::More::ok($e > time + 3600 && $e <= time + 3600 + 900, "valid for an hour or a little more");
Test::More::ok(main::cloudfront_ok($url), "openssl verifies it on the public key");
(my $later = $url) =~ s/Expires=(\d+)/'Expires=' . ($1 + 1)/e;
Test::More::ok(!main::cloudfront_ok($later), "and not with a later expiry");
(my $other = $url) =~ s{/songs/5-}{/songs/6-};
Test::More::ok(!main::cloudfront_ok($other), "nor for another object");
--- request
GET /api/v1/songs/5/stream
--- error_code: 302
--- response_headers_like
Location: https://d111111abcdef8\.cloudfront\.net/songs/5-[0-9a-f]{16}\.mp3\?Expires=\d+&Signature=[-_~A-Za-z0-9]+&Key-Pair-Id=KTESTPAIR$
--- response_body_like: ^\{"stream_url":"https://d111111abcdef8\.cloudfront\.net/



=== TEST 3: the stream endpoint's link verifies too
--- init
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/5/stream");
Test::More::ok(main::cloudfront_ok($h->{location}), "openssl verifies the redirect's link");
--- request
HEAD /api/v1/songs/5/stream
--- error_code: 302



=== TEST 4: links are signed once a window: the same bytes, each its own song's
--- init
my %key = (5 => $main::Uploaded);
for my $id (6, 7) {
    my ($key) = main::upload($id, 'audio/mpeg', $::Tone);
    my ($st) = main::api(POST => "/api/v1/songs/$id/upload/complete",
        qq({"key":"$key","size":) . length($::Tone) . qq(}));
    Test::More::is($st, 200, "song $id has audio");
    $key{$id} = $key;
}
my (%first, $again);
for my $round (1, 2) {
    for my $id (7, 5, 6, 6, 5, 7) {
        my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/$id");
        my ($url) = $body =~ /"stream_url":"([^"]+)"/;
        if (!defined $first{$id}) {
            Test::More::like($url, qr{^https://\Q$::Domain\E/\Q$key{$id}\E\?Expires=},
                             "song $id: a link to its own object");
            Test::More::ok(main::cloudfront_ok($url), "song $id: it verifies");
            $first{$id} = $url;
        } elsif ($url ne $first{$id}) {
            $again .= "song $id: $url ne $first{$id}\n";
        }
    }
}
Test::More::is($again, undef, "every answer in the window carried the same link");
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/6/stream");
Test::More::is($h->{location}, $first{6}, "the stream endpoint's link too");
--- request
GET /api/v1/songs/7
--- error_code: 200
--- response_body_like: "stream_url":"https://d111111abcdef8\.cloudfront\.net/songs/7-



=== TEST 5: without CloudFront, S3 presigned links play from S3
--- config eval
main::s3_config()
--- init
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/5");
my ($url) = $body =~ /"stream_url":"([^"]+)"/;
my ($date) = $url =~ /X-Amz-Date=(\w+)/;
my $window = main::epoch_of_amz_date($date);
Test::More::is($window % 900, 0, "signed at the start of a window");
Test::More::is($url, main::botocore(key => $main::Uploaded, expires => 4500,
                                    now => $window, method => 'GET'),
               "botocore's URL for the same key and clock");
my $res = HTTP::Tiny->new(timeout => 10)->get($url);
Test::More::is($res->{status}, 200, "S3 answers it");
Test::More::ok($res->{content} eq $::Tone, "with the file");
(my $tampered = $url) =~ s/X-Amz-Signature=(.)/'X-Amz-Signature=' . ($1 eq 'a' ? 'b' : 'a')/e;
Test::More::is(HTTP::Tiny->new(timeout => 10)->get($tampered)->{status}, 403,
               "a tampered one is refused");
--- request
GET /api/v1/songs/5/stream
--- error_code: 302
--- response_headers_like
Location: http://127\.0\.0\.1:\d+/tunes/songs/5-[0-9a-f]{16}\.mp3\?X-Amz-Algorithm=AWS4-HMAC-SHA256&.*&X-Amz-Signature=[0-9a-f]{64}



=== TEST 6: bad uploads and completions are 4xx with reasons, and change nothing
--- request eval
["POST /api/v1/songs/5/upload\n{\"content_type\":\"text/plain\"}",
 "POST /api/v1/songs/5/upload\n{}",
 "POST /api/v1/songs/5/upload\n[1]",
 "POST /api/v1/songs/5/upload\n{\"content_type\":",
 "POST /api/v1/songs/999/upload\n{\"content_type\":\"audio/flac\",\"size\":10}",
 "POST /api/v1/songs/5/upload/complete\n{\"key\":\"songs/6-0123456789abcdef.mp3\",\"size\":10}",
 "POST /api/v1/songs/5/upload/complete\n{\"key\":\"songs/5-0123456789abcdef.exe\",\"size\":10}",
 "POST /api/v1/songs/5/upload/complete\n{\"key\":\"songs/5-../../../x.mp3\",\"size\":10}",
 "POST /api/v1/songs/5/upload/complete\n{\"key\":\"songs/5-0123456789abcdef.mp3\"}",
 "POST /api/v1/songs/5/upload/complete\n{\"key\":\"songs/5-0123456789abcdef.mp3\",\"size\":\"10\"}",
 "POST /api/v1/songs/5/upload/complete\n{\"key\":\"songs/5-0123456789abcdef.mp3\",\"size\":999999999999}",
 "POST /api/v1/songs/5/upload/complete\n{\"key\":\"songs/5-0123456789abcdef.mp3\",\"size\":10,\"duration_ms\":-1}",
 "POST /api/v1/songs/999/upload/complete\n{\"key\":\"songs/999-0123456789abcdef.mp3\",\"size\":10}"]
--- more_headers eval
"$::Key\n$::Json"
--- error_code eval
[422, 422, 400, 400, 404, 422, 422, 422, 422, 422, 422, 422, 404]
--- response_body eval
[qq({"error":{"status":422,"message":"content_type must be audio/mpeg, audio/ogg, audio/flac or audio/mp4"}}\n),
 qq({"error":{"status":422,"message":"content_type must be audio/mpeg, audio/ogg, audio/flac or audio/mp4"}}\n),
 qq({"error":{"status":400,"message":"the body must be a JSON object"}}\n),
 qq({"error":{"status":400,"message":"the body is not valid JSON"}}\n),
 qq({"error":{"status":404,"message":"no song with id 999"}}\n),
 (qq({"error":{"status":422,"message":"key must be the key upload gave"}}\n)) x 3,
 (qq({"error":{"status":422,"message":"size must be the object's size in bytes, at most 52428800"}}\n)) x 3,
 qq({"error":{"status":422,"message":"duration_ms must be a non-negative integer"}}\n),
 qq({"error":{"status":404,"message":"no song with id 999"}}\n)]



=== TEST 7: the song kept the audio it had
--- request
GET /api/v1/songs/5
--- error_code: 200
--- response_body_like: "audio":\{"content_type":"audio/mpeg","size":\d+,"bitrate_kbps":128,"duration_ms":3030\},"stream_url":"https://



=== TEST 8: complete reads the object back: its size, its bytes, or a 422 and nothing recorded
Each object is uploaded with a URL of ours, so S3 holds exactly those
bytes; complete then asks S3 for their first bytes (and the last ones
the probe needs) through the internal location, never trusting the
client's word for what they are.
--- init
my $ogg = Tunesheap::Test::slurp("$ENV{TEST_NGINX_AUDIO}/tone.ogg");
my $text = "This is not an MP3 file, only text.\n" x 20;
my $half = substr($::Tone, 0, int(length($::Tone) / 2));
my $len = length $::Tone;
my ($k, $put) = main::upload(5, 'audio/mpeg', $::Tone);
Test::More::is($put, 200, "uploaded");
for (["$len + 1", qq({"key":"$k","size":) . ($len + 1) . '}',
      qq(the object holds $len bytes, not the ) . ($len + 1) . qq( that size says)],
     ["text", undef, "the object is not audio in a format taken here: MP3, Ogg Vorbis or Opus, FLAC, M4A (AAC)", $text],
     ["half an MP3", undef, qr/^the audio is cut short: its header counts \d+ bytes of mp3, the object holds \d+$/, $half],
     ["Ogg sent as MP3", undef, "the object is audio/ogg, not audio/mpeg as its upload said", $ogg],
     ["no PUT", undef, qr{^there is no object songs/5-[0-9a-f]{16}\.mp3: PUT the file to upload_url first$}, undef])
{
    my ($name, $body, $want, $bytes) = @$_;
    if (!defined $body) {
        my $key;
        if (defined $bytes) {
            ($key, $put) = main::upload(5, 'audio/mpeg', $bytes);
            Test::More::is($put, 200, "$name: uploaded");
        } else {
            my ($st, $h, $b) = main::api(POST => "/api/v1/songs/5/upload",
                                          '{"content_type":"audio/mpeg","size":10}');
            $key = JSON::PP::decode_json($b)->{key};
        }
        $body = qq({"key":"$key","size":) . length($bytes // 'x' x 10) . '}';
    }
    my ($st, $h, $got) = main::api(POST => "/api/v1/songs/5/upload/complete", $body);
    Test::More::is($st, 422, "$name: 422");
    my $json = eval { JSON::PP::decode_json($got) } // {};
    Test::More::is($json->{error}{status}, 422, "$name: the JSON error");
    if (ref $want) {
        Test::More::like($json->{error}{message}, $want, "$name: saying why");
    } else {
        Test::More::is($json->{error}{message}, $want, "$name: saying why");
    }
}
Test::More::is(Tunesheap::Test::sql("SELECT audio_key || ' ' || audio_size || ' ' || audio_duration_ms FROM songs WHERE id = 5"),
               "$main::Uploaded $len 3030", "song 5 kept its audio");
# a big MP3 (its ID3v1 check reads the object's end: a second range),
# Ogg (the last page), MP4 with moov at the end: what their bytes say
for (["big.mp3", "audio/mpeg", 8, qr/"bitrate_kbps":320,"duration_ms":13\d{4}\}/],
     ["tone.ogg", "audio/ogg", 9, qr/"duration_ms":3000\}/],
     ["tone.m4a", "audio/mp4", 10, qr/"bitrate_kbps":13[23],"duration_ms":3000\}/])
{
    my ($file, $type, $id, $want) = @$_;
    my $bytes = Tunesheap::Test::slurp("$ENV{TEST_NGINX_AUDIO}/$file");
    my ($key, $put) = main::upload($id, $type, $bytes);
    Test::More::is($put, 200, "$file uploaded");
    my ($st, $h, $got) = main::api(POST => "/api/v1/songs/$id/upload/complete",
        qq({"key":"$key","size":) . length($bytes) . '}');
    Test::More::is($st, 200, "$file recorded");
    Test::More::like($got, qr/^\{"audio":\{"content_type":"\Q$type\E","size":@{[length $bytes]},/, "$file: its type and size");
    Test::More::like($got, $want, "$file: its bit rate and duration");
}
--- request
GET /api/v1/songs/5
--- error_code: 200
--- response_body_like: "audio":\{"content_type":"audio/mpeg","size":\d+,"bitrate_kbps":128,"duration_ms":3030\}



=== TEST 9: without the internal location, complete says it cannot check
--- config eval
main::s3_config(undef, "")
--- init
my ($k, $put) = main::upload(5, 'audio/mpeg', $::Tone);
my ($st, $h, $body) = main::api(POST => "/api/v1/songs/5/upload/complete",
    qq({"key":"$k","size":) . length($::Tone) . '}');
Test::More::is($st, 500, "a 500");
Test::More::is($body, qq({"error":{"status":500,"message":"the upload cannot be checked here"}}\n),
               "saying so; the error log says why");
--- request
GET /api/v1/songs/5
--- error_code: 200
--- response_body_like: "audio":\{"content_type":"audio/mpeg","size":\d+,"bitrate_kbps":128,"duration_ms":3030\}
--- error_log
S3 checks need "location = /_tunesheap_s3 { internal; proxy_pass $tunesheap_s3_url; }" in this server



=== TEST 10: S3 unreachable: a 502 that says so, and no signature in the log
The check's signature travels in its Authorization header, never in the
URL nginx logs with the upstream's error.  The server's error_page (as in
the shipped configurations) does not hide the proxy's failure.
--- config
location /api/v1/ {
    tunesheap_api;
    tunesheap_media_s3 bucket=tunes region=us-east-1 endpoint=http://127.0.0.1:1 access_key=S3RVER secret_key=S3RVER;
}
location = /_tunesheap_s3 {
    internal;
    proxy_pass $tunesheap_s3_url;
}
error_page 404 502 /_tunesheap_error;
location = /_tunesheap_error {
    internal;
    tunesheap_error;
}
--- request
POST /api/v1/songs/5/upload/complete
{"key":"songs/5-0123456789abcdef.mp3","size":10}
--- more_headers eval
"$::Key\n$::Json"
--- error_code: 502
--- response_body
{"error":{"status":502,"message":"S3 did not answer: try again"}}
--- error_log eval
[qr{connect\(\) failed .*upstream: "http://127\.0\.0\.1:1/tunes/songs/5-0123456789abcdef\.mp3"},
 qr{S3 did not answer a check of "songs/5-0123456789abcdef\.mp3"}]



=== TEST 11: a slow S3 holds only its own request: the worker serves others meanwhile
S3 here is a socket that takes connections and never answers: the check
waits on nginx's event loop until proxy_read_timeout, a 502, while a
read of the same worker is answered at once.
--- config eval
use IO::Socket::INET;
$main::Mute = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, ReuseAddr => 1) or die $!;
my $port = $main::Mute->sockport;
"location /api/v1/ {\n    tunesheap_api;\n"
. "    tunesheap_media_s3 bucket=tunes region=us-east-1"
. " endpoint=http://127.0.0.1:$port access_key=S3RVER secret_key=S3RVER;\n}\n"
. "location = /_tunesheap_s3 {\n    internal;\n"
. "    proxy_pass \$tunesheap_s3_url;\n    proxy_read_timeout 3s;\n}\n"
--- init
use Time::HiRes ();
pipe(my $rd, my $wr) or die $!;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    close $rd;
    my ($st, $h, $body) = main::api(POST => "/api/v1/songs/5/upload/complete",
        '{"key":"songs/5-0123456789abcdef.mp3","size":10}');
    syswrite $wr, "$st $body";
    POSIX::_exit(0);
}
close $wr;
Time::HiRes::sleep(0.5);
my $t0 = Time::HiRes::time();
my ($st) = Tunesheap::Test::http(GET => "/api/v1/songs/5");
my $took = Time::HiRes::time() - $t0;
Test::More::is($st, 200, "a read while the check waits");
Test::More::cmp_ok($took, '<', 1, "answered at once (" . sprintf("%.3f", $took) . " s)");
my $got = do { local $/; <$rd> };
waitpid $pid, 0;
Test::More::like($got, qr/^502 \{"error":\{"status":502,"message":"S3 did not answer: try again"\}\}/,
                 "the check: a 502 once the proxy gives up");
close $main::Mute;
--- request
GET /api/v1/health
--- error_code: 200
--- error_log
upstream timed out



=== TEST 12: with tunesheap_auth_read, arguments are no signed link under S3
Any query string used to count as "a signed link" and skip the key: anyone
could stream any song through a freshly signed CloudFront URL.
--- config eval
main::s3_config("$::CloudFront tunesheap_auth_read on;")
--- request eval
["GET /api/v1/songs/5/stream?anything",
 "GET /api/v1/songs/5/stream?expires=9999999999&signature=abc",
 "HEAD /api/v1/songs/5/stream?x",
 "GET /api/v1/songs/5/stream",
 "GET /api/v1/songs/5/stream?anything",
 "GET /api/v1/songs/5/stream?anything"]
--- more_headers eval
["", "", "", "", "Authorization: Bearer tsk_test_nobody", "Authorization: Bearer tsk_test_reader"]
--- error_code eval
[401, 401, 401, 401, 401, 302]
--- response_body_like eval
[(qr/^\{"error":\{"status":401,"message":"an API key is required: Authorization: Bearer <key>"\}\}$/) x 2,
 qr/^$/,
 qr/^\{"error":\{"status":401,"message":"an API key is required/,
 qr/^\{"error":\{"status":401,"message":"unknown or revoked API key"\}\}$/,
 qr/^\{"stream_url":"https:\/\/d111111abcdef8\.cloudfront\.net\/songs\/5-/]



=== TEST 13: uploads need a write key; PUT of the bytes is for local storage
--- request eval
["POST /api/v1/songs/5/upload\n{\"content_type\":\"audio/mpeg\",\"size\":10}",
 "POST /api/v1/songs/5/upload\n{\"content_type\":\"audio/mpeg\",\"size\":10}",
 "PUT /api/v1/songs/5/audio\nabc"]
--- more_headers eval
["$::Json", "Authorization: Bearer tsk_test_reader\n$::Json", "$::Key"]
--- error_code eval
[401, 403, 409]



=== TEST 14: DELETE forgets the song's audio
--- request eval
["DELETE /api/v1/songs/5/audio", "GET /api/v1/songs/5", "GET /api/v1/songs/5/stream"]
--- more_headers eval
$::Key
--- error_code eval
[204, 200, 404]
--- response_body_like eval
[qr/^$/, qr/"audio":null,"stream_url":null\}\}$/,
 qr/^\{"error":\{"status":404,"message":"song 5 has no audio"\}\}$/]



=== TEST 15: nginx refuses media configurations that cannot work
--- init
for (["tunesheap_media_root /tmp;", "needs a tunesheap_media_secret"],
     ["tunesheap_media_root /tmp; tunesheap_media_secret short;", "needs a tunesheap_media_secret"],
     [$::CloudFront, "tunesheap_media_cloudfront needs tunesheap_media_s3"],
     ["tunesheap_media_s3 bucket=tunes endpoint=http://127.0.0.1:1;", "needs bucket= and region="],
     ["tunesheap_media_s3 bucket=Bad_Bucket region=us-east-1 access_key=a secret_key=b;", "cannot sign"],
     ["tunesheap_media_cloudfront domain=x key_pair_id=K private_key=/nonexistent;", "cannot open \"/nonexistent\""])
{
    Tunesheap::Test::refused_config(location => $_->[0], error => $_->[1]);
}
--- request
GET /api/v1/health
--- error_code: 200

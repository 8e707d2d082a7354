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

sub s3_config {
    my ($extra) = @_;
    return "location /api/v1/ {\n    tunesheap_api;\n"
        . "    tunesheap_media_s3 bucket=tunes region=us-east-1"
        . " endpoint=$S3 access_key=S3RVER secret_key=S3RVER;\n"
        . "    " . ($extra // '') . "\n}\n";
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
my ($st, $h, $body) = main::api(POST => "/api/v1/songs/5/upload",
                                '{"content_type":"audio/mpeg"}');
Test::More::is($st, 200, "an upload URL");
my $up = JSON::PP::decode_json($body);
Test::More::like($up->{key}, qr{^songs/5-[0-9a-f]{16}\.mp3$}, "a key made for song 5");
Test::More::is($up->{method}, "PUT", "to PUT");
Test::More::is($up->{headers}{'Content-Type'}, "audio/mpeg", "with its type");
my ($date) = $up->{upload_url} =~ /X-Amz-Date=(\w+)/;
my $now = main::epoch_of_amz_date($date);
Test::More::cmp_ok(abs($now - time), '<', 10, "signed now");
Test::More::is($up->{expires_at}, POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($now + 3600)),
               "expires_at says when");
Test::More::is($up->{upload_url},
               main::botocore(key => $up->{key}, expires => 3600, now => $now,
                              'content-type' => 'audio/mpeg', method => 'PUT'),
               "the URL botocore presigns for the same key and clock");

my $http = HTTP::Tiny->new(timeout => 10);
(my $tampered = $up->{upload_url}) =~ s/X-Amz-Signature=(.)/'X-Amz-Signature=' . ($1 eq 'a' ? 'b' : 'a')/e;
my $res = $http->request(PUT => $tampered,
    { headers => { 'Content-Type' => 'audio/mpeg' }, content => $::Tone });
Test::More::is($res->{status}, 403, "a tampered URL is refused by S3");
$res = $http->request(PUT => $up->{upload_url},
    { headers => { 'Content-Type' => 'audio/ogg' }, content => $::Tone });
Test::More::is($res->{status}, 403, "so is another Content-Type");
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



=== TEST 2: complete records the object; stream_url is a CloudFront link
--- init
my ($st, $h, $body) = main::api(POST => "/api/v1/songs/5/upload/complete",
    qq({"key":"$main::Uploaded","size":) . length($::Tone)
    . qq(,"duration_ms":3030,"bitrate_kbps":128}));
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
    my ($st, $h, $body) = main::api(POST => "/api/v1/songs/$id/upload",
                                    '{"content_type":"audio/mpeg"}');
    my $up = JSON::PP::decode_json($body);
    HTTP::Tiny->new(timeout => 10)->request(PUT => $up->{upload_url},
        { headers => { 'Content-Type' => 'audio/mpeg' }, content => $::Tone });
    ($st) = main::api(POST => "/api/v1/songs/$id/upload/complete",
        qq({"key":"$up->{key}","size":) . length($::Tone) . qq(}));
    Test::More::is($st, 200, "song $id has audio");
    $key{$id} = $up->{key};
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
 "POST /api/v1/songs/999/upload\n{\"content_type\":\"audio/flac\"}",
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



=== TEST 8: with tunesheap_auth_read, arguments are no signed link under S3
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



=== TEST 9: uploads need a write key; PUT of the bytes is for local storage
--- request eval
["POST /api/v1/songs/5/upload\n{\"content_type\":\"audio/mpeg\"}",
 "POST /api/v1/songs/5/upload\n{\"content_type\":\"audio/mpeg\"}",
 "PUT /api/v1/songs/5/audio\nabc"]
--- more_headers eval
["$::Json", "Authorization: Bearer tsk_test_reader\n$::Json", "$::Key"]
--- error_code eval
[401, 403, 409]



=== TEST 10: DELETE forgets the song's audio
--- request eval
["DELETE /api/v1/songs/5/audio", "GET /api/v1/songs/5", "GET /api/v1/songs/5/stream"]
--- more_headers eval
$::Key
--- error_code eval
[204, 200, 404]
--- response_body_like eval
[qr/^$/, qr/"audio":null,"stream_url":null\}\}$/,
 qr/^\{"error":\{"status":404,"message":"song 5 has no audio"\}\}$/]



=== TEST 11: nginx refuses media configurations that cannot work
--- init
my $dir = "$ENV{TEST_NGINX_SERVROOT}-conf";
mkdir $dir;
mkdir "$dir/logs";
for (["tunesheap_media_root /tmp;", "needs a tunesheap_media_secret"],
     ["tunesheap_media_root /tmp; tunesheap_media_secret short;", "needs a tunesheap_media_secret"],
     [$::CloudFront, "tunesheap_media_cloudfront needs tunesheap_media_s3"],
     ["tunesheap_media_s3 bucket=tunes endpoint=http://127.0.0.1:1;", "needs bucket= and region="],
     ["tunesheap_media_s3 bucket=Bad_Bucket region=us-east-1 access_key=a secret_key=b;", "cannot sign"],
     ["tunesheap_media_cloudfront domain=x key_pair_id=K private_key=/nonexistent;", "cannot open \"/nonexistent\""])
{
    my ($directives, $error) = @$_;
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "load_module $ENV{TEST_NGINX_LOAD_MODULES};\n"
        . "events {}\nhttp { server { listen 127.0.0.1:1;"
        . " location / { tunesheap_api; $directives } } }\n";
    close $fh;
    my $out = `nginx -t -p $dir/ -c $dir/nginx.conf -e $dir/logs/error.log 2>&1`;
    Test::More::ok($? != 0, "refused: $directives");
    Test::More::like($out, qr/\Q$error\E/, "saying why: $error");
}
--- request
GET /api/v1/health
--- error_code: 200

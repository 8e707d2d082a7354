# Songs' audio kept under a media root: uploads checked by their bytes and
# moved into place, streams through nginx's static file path (ranges,
# conditional requests, HEAD) behind signed, expiring links.  The audio
# made here is removed here: later suites see songs without audio.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Audio = $ENV{TEST_NGINX_AUDIO};
our $Media = $ENV{TEST_NGINX_MEDIA};
our $Tone = Tunesheap::Test::slurp("$Audio/tone.mp3");
our $Big = Tunesheap::Test::slurp("$Audio/big.mp3");
our $Link = Tunesheap::Test::stream_link(1, time + 600);

# the file a song's audio is in, from Postgres
sub audio_file {
    my ($id) = @_;
    my $key = Tunesheap::Test::sql("SELECT audio_key FROM songs WHERE id = $id");
    return $key eq '' ? undef : "$Media/$key";
}

# an "audio" object as the API writes it
sub audio_json {
    my ($type, $size, $bitrate, $duration) = @_;
    return qq("audio":{"content_type":"$type","size":$size,)
         . qq("bitrate_kbps":$bitrate,"duration_ms":$duration});
}

# the files in the media root (not nginx's temporary ones)
sub media_files {
    opendir my $d, $Media or die "$Media: $!";
    return scalar grep { !/^\./ } readdir $d;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', Tunesheap::Test::media_config())
        unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a song without audio says so
--- request
GET /api/v1/songs/1
--- error_code: 200
--- response_body_like: ,"duration_ms":\d+,"audio":null,"stream_url":null\}\}$



=== TEST 2: an MP3 is taken, recognised from its bytes, and recorded
--- request eval
"PUT /api/v1/songs/1/audio\n$::Tone"
--- more_headers eval
"$::Key\nContent-Type: application/octet-stream"
--- error_code: 200
--- response_body eval
"{" . main::audio_json("audio/mpeg", length($::Tone), 128, 3030) . "}\n"
--- no_error_log
[error]



=== TEST 3: the song now has audio, its file, and a signed stream_url
The link names the file and expires an hour after the current 15-minute
window.
--- init
my $file = main::audio_file(1);
Test::More::like($file, qr{/1-[0-9a-f]{16}\.mp3$}, "a name the module made");
Test::More::is(Tunesheap::Test::slurp($file), $::Tone, "the file holds the upload");
Test::More::is(main::media_files(), 1, "one file in the media root");
(my $key = $file) =~ s{.*/}{};
my $w = int(time / 900) * 900;
my @links = map { Tunesheap::Test::stream_link(1, $_ + 900 + 3600, undef, $key) }
                ($w, $w - 900);
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/1");
my $audio = main::audio_json("audio/mpeg", length($::Tone), 128, 3030);
my ($url) = $body =~ /,\Q$audio\E,"stream_url":"([^"]+)"\}\}$/;
Test::More::ok(defined $url && ($url eq $links[0] || $url eq $links[1]),
               "stream_url is the link signed for this window and file")
    or Test::More::diag($body);
--- request
GET /api/v1/songs/1
--- error_code: 200
--- response_body_like: "stream_url":"/api/v1/songs/1/stream\?expires=\d+&key=1-[0-9a-f]{16}\.mp3&signature=[A-Za-z0-9_-]{43}"\}\}$



=== TEST 4: the signed link plays the file: sendfile, type, length, ranges
--- request eval
"GET $::Link"
--- error_code: 200
--- response_headers eval
"Content-Type: audio/mpeg\nContent-Length: " . length($::Tone)
. "\nAccept-Ranges: bytes"
--- raw_response_headers_like: ^(?=.*\r\nCache-Control: private, max-age=(59\d|600)\r\n)(?=.*\r\nETag: "[0-9a-f]+-[0-9a-f]+"\r\n)(?=.*\r\nLast-Modified: [^\r]+ GMT\r\n)
--- response_body eval
$::Tone



=== TEST 5: one range is a 206 with Content-Range
--- request eval
"GET $::Link"
--- more_headers
Range: bytes=100-1099
--- error_code: 206
--- response_headers eval
"Content-Range: bytes 100-1099/" . length($::Tone) . "\nContent-Length: 1000"
--- response_body eval
substr($::Tone, 100, 1000)



=== TEST 6: a suffix range, and a range past the end is a 416
With the shipped error pages, as the API answers it: the 416 is JSON.
--- config eval
Tunesheap::Test::shipped_conf('tunesheap-server.conf')
    . Tunesheap::Test::media_config()
--- request eval
["GET $::Link", "GET $::Link"]
--- more_headers eval
["Range: bytes=-10", "Range: bytes=" . length($::Tone) . "-"]
--- error_code eval
[206, 416]
--- response_headers eval
["Content-Range: bytes " . (length($::Tone) - 10) . "-" . (length($::Tone) - 1) . "/" . length($::Tone),
 "Content-Range: bytes */" . length($::Tone)
 . "\nContent-Type: application/json; charset=utf-8"]



=== TEST 7: If-Range: the file's ETag keeps the range, another one does not
--- init
my @st = stat main::audio_file(1);
my $etag = sprintf '"%x-%x"', $st[9], $st[7];
my ($st, $h, $body) = Tunesheap::Test::http(GET => $::Link);
Test::More::is($h->{etag}, $etag, "the file's ETag");
($st, $h, $body) = Tunesheap::Test::http(GET => $::Link,
    headers => { Range => "bytes=0-9", 'If-Range' => $etag });
Test::More::is("$st " . length($body), "206 10", "the same file: the range");
($st, $h, $body) = Tunesheap::Test::http(GET => $::Link,
    headers => { Range => "bytes=0-9", 'If-Range' => '"0-0"' });
Test::More::is("$st " . length($body), "200 " . length($::Tone),
               "another file: all of it");
--- request eval
"GET $::Link"
--- more_headers
If-None-Match: "0-0"
--- error_code: 200



=== TEST 8: HEAD answers the headers without the bytes
--- request eval
"HEAD $::Link"
--- error_code: 200
--- response_headers eval
"Content-Type: audio/mpeg\nContent-Length: " . length($::Tone)
--- response_body:



=== TEST 9: a tampered, an expired or an unsigned-with-arguments link: 403
--- request eval
my $expired = Tunesheap::Test::stream_link(1, time - 1);
(my $tampered = $::Link) =~ s/signature=(.)/'signature=' . ($1 eq 'A' ? 'B' : 'A')/e;
(my $later = $::Link) =~ s/expires=(\d+)/'expires=' . ($1 + 1)/e;
my $other = Tunesheap::Test::stream_link(1, time + 600, "another secret of some length");
["GET $tampered", "GET $later", "GET $expired", "GET $other",
 "GET /api/v1/songs/1/stream?expires=99999999999"]
--- error_code eval
[403, 403, 403, 403, 403]
--- response_body eval
[map({ qq{{"error":{"status":403,"message":"this link's signature is not valid"}}\n} } 1 .. 2),
 qq{{"error":{"status":403,"message":"this link has expired"}}\n},
 qq{{"error":{"status":403,"message":"this link's signature is not valid"}}\n},
 qq{{"error":{"status":403,"message":"this link needs expires and signature, as stream_url gives them"}}\n}]



=== TEST 10: a link signed for one song does not play another
--- request eval
(my $l = $::Link) =~ s{/songs/1/}{/songs/2/};
"GET $l"
--- error_code: 403



=== TEST 11: without a signature the stream endpoint sends on to a fresh link
--- request
GET /api/v1/songs/1/stream
--- error_code: 302
--- response_headers_like
Location: http://localhost:\d+/api/v1/songs/1/stream\?expires=\d+&key=1-[0-9a-f]{16}\.mp3&signature=[A-Za-z0-9_-]{43}$
Cache-Control: no-store
--- response_body_like: ^\{"stream_url":"/api/v1/songs/1/stream\?expires=\d+&key=1-[0-9a-f]{16}\.mp3&signature=[A-Za-z0-9_-]{43}"\}$



=== TEST 12: no audio, no song, a bad id: 404, 404, 400
--- request eval
["GET /api/v1/songs/2/stream", "GET " . Tunesheap::Test::stream_link(2, time + 600),
 "GET /api/v1/songs/999/stream", "GET /api/v1/songs/x/stream"]
--- error_code eval
[404, 404, 404, 400]
--- response_body eval
[qq{{"error":{"status":404,"message":"song 2 has no audio"}}\n},
 qq{{"error":{"status":404,"message":"song 2 has no audio"}}\n},
 qq{{"error":{"status":404,"message":"no song with id 999"}}\n},
 qq{{"error":{"status":400,"message":"song id must be a non-negative integer"}}\n}]



=== TEST 13: the song's own link plays its file without asking Postgres
--- init
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/1");
my ($url) = $body =~ /"stream_url":"([^"]+)"/;
Tunesheap::Test::pg_ctl('stop');
my ($st2, $h2, $bytes) = Tunesheap::Test::http(GET => $url,
                                               headers => { Range => 'bytes=0-99' });
my ($st3) = Tunesheap::Test::http(GET => "/api/v1/songs/1/stream");
Tunesheap::Test::pg_ctl('start');
select(undef, undef, undef, 1.1);
Test::More::is("$st2 " . length($bytes), "206 100", "Postgres stopped: it still plays");
Test::More::ok($bytes eq substr($::Tone, 0, 100), "the file's bytes");
Test::More::is($h2->{'content-type'}, "audio/mpeg", "with the type its name says");
Test::More::is($st3, 503, "the unsigned endpoint needs Postgres");
--- request
GET /api/v1/songs/1
--- error_code: 200
--- timeout: 20



=== TEST 14: a link's key is signed: another file, or a path, is a 403
--- request eval
my $e = int(time) + 600;
my $link = Tunesheap::Test::stream_link(1, $e, undef, "1-0123456789abcdef.mp3");
(my $other = $link) =~ s/key=1-0123456789abcdef/key=1-0123456789abcdee/;
my $path = Tunesheap::Test::stream_link(1, $e, undef, "../../etc/passwd");
my $dots = Tunesheap::Test::stream_link(1, $e, undef, "1-0123456789abcdef.mp3/..");
my $theirs = Tunesheap::Test::stream_link(1, $e, undef, "2-0123456789abcdef.mp3");
["GET $other", "GET $path", "GET $dots", "GET $theirs"]
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
[(qq{{"error":{"status":403,"message":"this link's signature is not valid"}}\n}) x 4]



=== TEST 15: no path reaches the file system; the files' location is internal
--- init
(my $key = main::audio_file(1)) =~ s{.*/}{};
my ($st) = Tunesheap::Test::http(GET => "/_tunesheap_media/$key");
Test::More::is($st, 404, "the files' location answers nothing itself");
--- request eval
["GET /api/v1/songs/1/stream/../../../etc/passwd",
 "GET /api/v1/songs/..%2f..%2f..%2fetc%2fpasswd/stream",
 "GET /api/v1/songs/1%2f..%2f2/stream"]
--- error_code eval
[404, 404, 404]



=== TEST 16: what is not audio is a 415, and the old audio stays
--- request eval
[map { "PUT /api/v1/songs/1/audio\n" . Tunesheap::Test::slurp("$::Audio/$_") }
     qw(tone.wav video.mp4 noise.bin text.mp3 truncated.flac)]
--- more_headers eval
"$::Key\nContent-Type: audio/mpeg"
--- error_code eval
[415, 415, 415, 415, 415]
--- response_body eval
[(qq{{"error":{"status":415,"message":"the body is not audio in a format taken here: MP3, Ogg Vorbis or Opus, FLAC, M4A (AAC)"}}\n}) x 5]
--- init
$main::Before = main::audio_file(1);
--- no_error_log
[error]



=== TEST 17: a cut MP3 is a 422: its header's counts say how much is missing
LAME's first frame counts the stream's bytes (VBR and CBR alike); a file
cut short used to be taken with the whole song's duration.
--- init
for my $file (qw(tone.mp3 vbr.mp3 id3.mp3)) {
    my $bytes = Tunesheap::Test::slurp("$::Audio/$file");
    my $half = substr($bytes, 0, int(length($bytes) / 2));
    my ($st, $h, $body) = Tunesheap::Test::http(PUT => "/api/v1/songs/1/audio",
        headers => { Authorization => "Bearer tsk_test_writer" }, body => $half);
    Test::More::is($st, 422, "half of $file: 422");
    Test::More::like($body, qr/^\{"error":\{"status":422,"message":"the audio is cut short: its header counts \d+ bytes of mp3, the file holds \d+"\}\}$/,
                     "half of $file: saying so");
    my ($claimed, $holds) = $body =~ /counts (\d+) bytes of mp3, the file holds (\d+)/;
    Test::More::cmp_ok($claimed, '>', $holds + 2 * 417, "half of $file: counts more than it holds");
}
# cut by less than two frames: the same song, give or take 50 ms
my $tone = Tunesheap::Test::slurp("$::Audio/vbr.mp3");
my ($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/1/audio",
    headers => { Authorization => "Bearer tsk_test_writer" },
    body => substr($tone, 0, length($tone) - 100));
Test::More::is($st, 200, "vbr.mp3 short of 100 bytes is taken");
($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/1/audio",
    headers => { Authorization => "Bearer tsk_test_writer" }, body => $::Tone);
Test::More::is($st, 200, "tone.mp3 back");
$main::Before = main::audio_file(1);
--- request
GET /api/v1/songs/1
--- error_code: 200
--- response_body_like: "audio":\{"content_type":"audio/mpeg","size":\d+,"bitrate_kbps":128,"duration_ms":3030\}



=== TEST 18: the rejected uploads left nothing behind
--- init
Test::More::is(main::audio_file(1), $main::Before, "the song's audio is the same");
Test::More::is(Tunesheap::Test::slurp($main::Before), $::Tone, "and so is its file");
Test::More::is(main::media_files(), 1, "no other file in the media root");
--- request eval
"GET $::Link"
--- error_code: 200
--- response_body eval
$::Tone



=== TEST 19: an empty body is a 400; too large a one a 413, before reading it
--- config eval
Tunesheap::Test::media_config(extra => "tunesheap_media_max_size 1k;")
--- request eval
["PUT /api/v1/songs/1/audio\n", "PUT /api/v1/songs/1/audio\n$::Tone"]
--- more_headers eval
"$::Key"
--- error_code eval
[400, 413]
--- response_body eval
[qq{{"error":{"status":400,"message":"the body is empty: send the audio file"}}\n},
 qq{{"error":{"status":413,"message":"the audio is larger than 1024 bytes"}}\n}]



=== TEST 20: a chunked body past the limit is a 413 too, and leaves nothing
--- config eval
Tunesheap::Test::media_config(extra => "tunesheap_media_max_size 1k;")
--- raw_request eval
my $chunk = substr($::Tone, 0, 4096);
"PUT /api/v1/songs/1/audio HTTP/1.1\r\nHost: localhost\r\n$::Key\r\n"
. "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
. sprintf("%x\r\n", length $chunk) . $chunk . "\r\n0\r\n\r\n"
--- error_code: 413
--- response_body
{"error":{"status":413,"message":"the audio is larger than 1024 bytes"}}
--- init
Test::More::is(main::media_files(), 1, "still one file in the media root");



=== TEST 21: uploads need a key with the write scope
--- request eval
["PUT /api/v1/songs/1/audio\n$::Tone", "PUT /api/v1/songs/1/audio\n$::Tone",
 "DELETE /api/v1/songs/1/audio"]
--- more_headers eval
["", "Authorization: Bearer tsk_test_reader", ""]
--- error_code eval
[401, 403, 401]



=== TEST 22: every accepted format, with the metadata its bytes give
Sent from here: a request section would lose a file's last newline.
--- init
for (["tone.ogg", "audio/ogg", 3000, 0], ["tone.opus", "audio/ogg", 3000, 0],
     ["tone.flac", "audio/flac", 3000, 0],
     # AAC at 128k: the average ffmpeg writes in the file is 132 or 133
     ["tone.m4a", "audio/mp4", 3000, '13[23]'],
     ["faststart.m4a", "audio/mp4", 3000, '13[23]'],
     ["vbr.mp3", "audio/mpeg", 3030, 0],
     ["id3.mp3", "audio/mpeg", 3030, 128])
{
    my ($file, $type, $ms, $kbps) = @$_;
    my $bytes = Tunesheap::Test::slurp("$::Audio/$file");
    my ($st, $h, $body) = Tunesheap::Test::http(PUT => "/api/v1/songs/3/audio",
        headers => { Authorization => "Bearer tsk_test_writer" }, body => $bytes);
    my ($head, $tail) = split /BITRATE/,
        main::audio_json($type, length $bytes, 'BITRATE', $ms);
    my $want = quotemeta($head) . ($kbps || '\d+') . quotemeta($tail);
    Test::More::is($st, 200, "$file taken");
    Test::More::like($body, qr/^\{$want\}$/, "$file: $type, $ms ms");
}
--- request
GET /api/v1/songs/3
--- error_code: 200
--- response_body_like: "audio":\{"content_type":"audio/mpeg","size":\d+,"bitrate_kbps":128,"duration_ms":3030\}



=== TEST 23: a link to replaced audio plays the audio that replaced it
--- init
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/3");
my ($url) = $body =~ /"stream_url":"([^"]+)"/;
my $vbr = Tunesheap::Test::slurp("$::Audio/vbr.mp3");
my $id3 = Tunesheap::Test::slurp("$::Audio/id3.mp3");
my $auth = { Authorization => "Bearer tsk_test_writer" };
($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/3/audio", headers => $auth, body => $vbr);
Test::More::is($st, 200, "replaced");
my ($st2, $h2, $bytes) = Tunesheap::Test::http(GET => $url);
Test::More::is($st2, 200, "the old link still plays");
Test::More::ok($bytes eq $vbr, "the new audio");
($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/3/audio", headers => $auth, body => $id3);
Test::More::is($st, 200, "and back");
--- request
GET /api/v1/songs/3
--- error_code: 200



=== TEST 24: each replacement removed the file before it
--- init
Test::More::is(main::media_files(), 2, "songs 1 and 3: two files");
Test::More::like(main::audio_file(3), qr{/3-[0-9a-f]{16}\.mp3$}, "the last upload's");
--- request eval
"GET " . Tunesheap::Test::stream_link(3, time + 600)
--- error_code: 200
--- response_body eval
Tunesheap::Test::slurp("$::Audio/id3.mp3")



=== TEST 25: under tunesheap_auth_read a signed link needs no key; the rest do
Players cannot send keys: the link's signature is what lets them in.
--- config eval
Tunesheap::Test::media_config(extra => "tunesheap_auth_read on;")
--- request eval
["GET " . Tunesheap::Test::stream_link(3, time + 600), "GET /api/v1/songs/3/stream",
 "GET /api/v1/songs/3", "GET " . Tunesheap::Test::stream_link(3, time - 1)]
--- error_code eval
[200, 401, 401, 403]



=== TEST 26: a listener of the old file hears all of it while it is replaced
The file is sent at 200 KB/s; halfway through, new audio replaces it.
--- config eval
Tunesheap::Test::media_config(media_extra => "limit_rate 200k;")
--- init
my ($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/4/audio",
    headers => { Authorization => "Bearer tsk_test_writer" }, body => $::Big);
Test::More::is($st, 200, "a 5 MB song");
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => Tunesheap::Test::server_port())
    or die "connect: $!";
print $s "GET " . Tunesheap::Test::stream_link(4, time + 600)
    . " HTTP/1.0\r\nHost: localhost\r\n\r\n";
my $got = '';
1 while length($got) < 100000 && sysread($s, $got, 65536, length $got);
($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/4/audio",
    headers => { Authorization => "Bearer tsk_test_writer" }, body => $::Tone);
Test::More::is($st, 200, "replaced while it plays");
1 while sysread($s, $got, 65536, length $got);
$got =~ s/^.*?\r\n\r\n//s;
Test::More::is(length $got, length $::Big, "the listener got all the bytes");
Test::More::ok($got eq $::Big, "the listener got the whole old file");
--- request eval
"GET " . Tunesheap::Test::stream_link(4, time + 600)
--- error_code: 200
--- response_body eval
$::Tone
--- timeout: 30



=== TEST 27: DELETE removes the audio and its file; again, a 404
--- request eval
["DELETE /api/v1/songs/4/audio", "GET /api/v1/songs/4", "DELETE /api/v1/songs/4/audio",
 "DELETE /api/v1/songs/999/audio"]
--- more_headers eval
$::Key
--- error_code eval
[204, 200, 404, 404]
--- response_body_like eval
[qr/^$/, qr/,"audio":null,"stream_url":null\}\}$/,
 qr/^\{"error":\{"status":404,"message":"song 4 has no audio"\}\}$/,
 qr/^\{"error":\{"status":404,"message":"no song with id 999"\}\}$/]



=== TEST 28: other methods, and S3's upload routes, are refused clearly
--- request eval
["POST /api/v1/songs/1/audio", "PUT /api/v1/songs/1/stream",
 "POST /api/v1/songs/1/upload", "GET /api/v1/artists/4/stream"]
--- more_headers eval
$::Key
--- error_code eval
[405, 405, 409, 404]
--- response_headers eval
["Allow: PUT, DELETE", "Allow: GET, HEAD", "", ""]



=== TEST 29: a location without media keeps no audio
--- config
location /api/v1/ { tunesheap_api; }
--- request eval
["GET /api/v1/songs/1/stream", "GET /api/v1/songs/1"]
--- error_code eval
[404, 200]
--- response_body_like eval
[qr/^\{"error":\{"status":404,"message":"audio is not kept here"\}\}$/,
 qr/"audio":\{"content_type":"audio\/mpeg",.*"stream_url":null\}\}$/]



=== TEST 30: a write through the cache is seen at once
--- http_config eval
Tunesheap::Test::cached_config()
--- request eval
["GET /api/v1/songs/3", "DELETE /api/v1/songs/3/audio", "GET /api/v1/songs/3",
 "DELETE /api/v1/songs/1/audio"]
--- more_headers eval
$::Key
--- error_code eval
[200, 204, 200, 204]
--- response_body_like eval
[qr/"audio":\{"content_type":"audio\/mpeg"/, qr/^$/,
 qr/"audio":null,"stream_url":null\}\}$/, qr/^$/]



=== TEST 31: If-Match on the audio: the song's ETag or a 412, and nothing kept
The song's ETag is the one its GET gives (the statement computes it as
ts_resource.c does); a PUT or DELETE with another answers 412 and leaves
the song and the media root as they were.
--- init
my $W = "Bearer tsk_test_writer";
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/2");
my $e0 = $h->{etag};
Test::More::like($e0, qr/^"[0-9a-f]{32}"$/, "the song's ETag");
my $files = main::media_files();
my $body;
($st, $h, $body) = Tunesheap::Test::http(PUT => "/api/v1/songs/2/audio",
    headers => { Authorization => $W, 'If-Match' => '"' . ('0' x 32) . '"' },
    body => $::Tone);
Test::More::is($st, 412, "another ETag: 412");
Test::More::is($body, qq({"error":{"status":412,"message":"song 2 has changed: If-Match does not match its ETag"}}\n), "saying why");
Test::More::is(main::media_files(), $files, "the upload's file is gone");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM songs WHERE id = 2 AND audio_key IS NULL"), 1, "the song has no audio still");
($st, $h) = Tunesheap::Test::http(PUT => "/api/v1/songs/2/audio",
    headers => { Authorization => $W, 'If-Match' => "W/$e0" }, body => $::Tone);
Test::More::is($st, 412, "a weak tag never matches");
($st, $h, $body) = Tunesheap::Test::http(PUT => "/api/v1/songs/2/audio",
    headers => { Authorization => $W, 'If-Match' => qq("x", $e0) }, body => $::Tone);
Test::More::is($st, 200, "its ETag among others: recorded");
my $e1 = $h->{etag};
Test::More::like($e1, qr/^"[0-9a-f]{32}"$/, "with the song's new ETag");
Test::More::isnt($e1, $e0, "another one");
($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/2");
Test::More::is($h->{etag}, $e1, "the one a GET gives now");
($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/2/audio",
    headers => { Authorization => $W, 'If-Match' => $e0 }, body => $::Tone);
Test::More::is($st, 412, "the old ETag: 412");
($st) = Tunesheap::Test::http(DELETE => "/api/v1/songs/2/audio",
    headers => { Authorization => $W, 'If-Match' => $e0 });
Test::More::is($st, 412, "DELETE with the old ETag: 412");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM songs WHERE id = 2 AND audio_key IS NOT NULL"), 1, "the audio stays");
--- request
DELETE /api/v1/songs/2/audio
--- more_headers eval
"$::Key\nIf-Match: *"
--- error_code: 204



=== TEST 32: nothing is left: no audio recorded, no file kept
--- init
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM songs WHERE audio_key IS NOT NULL"), 0, "no audio recorded");
Test::More::is(main::media_files(), 0, "the media root is empty");
--- request
GET /api/v1/songs/1
--- error_code: 200
--- response_body_like: "audio":null,"stream_url":null\}\}$

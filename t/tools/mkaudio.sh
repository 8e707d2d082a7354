#!/bin/bash
#
# Makes audio files for the upload tests and benchmarks.
#
#   mkaudio.sh OUTDIR               the test set: real files of each accepted
#                                   format (3 s of sine) and files that must
#                                   be declined
#   mkaudio.sh --big OUTDIR         big.mp3: 320 kbit/s, about 5 MB (131 s)
#   mkaudio.sh --say "TEXT" OUT.mp3 a short spoken clip
#
# Needs sox, lame, oggenc (vorbis-tools), opusenc (opus-tools), flac,
# ffmpeg and espeak-ng.

set -eu

usage() {
    echo "usage: $0 OUTDIR | --big OUTDIR | --say TEXT OUT.mp3" >&2
    exit 2
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -eq 2 ] && [ "$1" = "--big" ]; then
    mkdir -p "$2"
    sox -n -r 44100 -c 2 -b 16 "$tmp/big.wav" synth 131 sine 440 vol 0.5
    lame --quiet -t -b 320 "$tmp/big.wav" "$2/big.mp3"
    exit 0
fi

if [ $# -eq 3 ] && [ "$1" = "--say" ]; then
    espeak-ng -w "$tmp/say.wav" "$2"
    lame --quiet -b 64 "$tmp/say.wav" "$3"
    exit 0
fi

if [ $# -ne 1 ] || [ "${1#-}" != "$1" ]; then
    usage
fi

out=$1
mkdir -p "$out"

sox -n -r 44100 -c 2 -b 16 "$out/tone.wav" synth 3 sine 440 vol 0.5
wav=$out/tone.wav

# MP3: CBR with LAME's Info frame, CBR without it (duration from the size),
# VBR with a Xing frame, an ID3v2 tag in front, MPEG-2 mono
lame --quiet -b 128 "$wav" "$out/tone.mp3"
lame --quiet -t -b 128 "$wav" "$out/cbr.mp3"
lame --quiet -V 4 "$wav" "$out/vbr.mp3"
lame --quiet -b 128 --add-id3v2 --tt "Tone" --ta "Tunesheap" "$wav" \
    "$out/id3.mp3"
lame --quiet -t -b 32 -m m --resample 22.05 "$wav" "$out/mpeg2.mp3"

oggenc --quiet -q 3 -o "$out/tone.ogg" "$wav"
opusenc --quiet "$wav" "$out/tone.opus"
flac --silent --force -o "$out/tone.flac" "$wav"

# FLAC behind an ID3v2.4 tag (10-byte header, 20 bytes of padding)
{
    printf 'ID3\004\000\000\000\000\000\024'
    head -c 20 /dev/zero
    cat "$out/tone.flac"
} > "$out/id3.flac"

# AAC in MP4: the muxer writes moov after mdat unless asked to move it
ffmpeg -v error -y -i "$wav" -c:a aac -b:a 128k "$out/tone.m4a"
ffmpeg -v error -y -i "$wav" -c:a aac -b:a 128k -movflags +faststart \
    "$out/faststart.m4a"

# declined: video only, random bytes, text, empty, a cut FLAC header
ffmpeg -v error -y -f lavfi -i testsrc=size=64x64:rate=5 -t 1 -an \
    -c:v mpeg4 "$out/video.mp4"
head -c 100000 /dev/urandom > "$out/noise.bin"
printf 'This is not an MP3 file, only text.\n' > "$out/text.mp3"
: > "$out/empty.mp3"
head -c 20 "$out/tone.flac" > "$out/truncated.flac"

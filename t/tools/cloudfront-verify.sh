#!/bin/sh
# Checks a CloudFront signed URL (canned policy) against the key pair's
# public key: rebuilds the policy from the URL without its Expires,
# Signature and Key-Pair-Id, undoes CloudFront's base64 ('-' '_' '~' for
# '+' '=' '/') and asks openssl.  Prints the policy; exit 0 only on
# "Verified OK".
#
#     cloudfront-verify.sh URL PUBKEY.pem

set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 URL PUBKEY.pem" >&2
    exit 2
fi

url=$1
pub=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the signed parameters come last, in this order, after '?' or '&'
signed='[?&]Expires=[0-9]*&Signature=[-_~A-Za-z0-9]*&Key-Pair-Id=[^&]*$'
field() {
    printf '%s' "$url" | sed -n "s/$1/\\1/p"
}

base=$(printf '%s' "$url" | sed -n "s/$signed//p")
expires=$(field '.*[?&]Expires=\([0-9]*\)&Signature=.*')
sig=$(field '.*&Signature=\([-_~A-Za-z0-9]*\)&Key-Pair-Id=.*')
kid=$(field '.*&Key-Pair-Id=\([^&]*\)$')

if [ -z "$base" ] || [ -z "$expires" ] || [ -z "$sig" ] || [ -z "$kid" ]
then
    echo "not a canned-policy signed URL: $url" >&2
    exit 1
fi

policy='{"Statement":[{"Resource":"%s","Condition":'
policy=$policy'{"DateLessThan":{"AWS:EpochTime":%s}}}]}'
# shellcheck disable=SC2059
printf "$policy" "$base" "$expires" > "$tmp/policy.txt"

printf '%s' "$sig" | tr -- '-_~' '+=/' | openssl base64 -d -A > "$tmp/sig.bin"

cat "$tmp/policy.txt"
echo
echo "Key-Pair-Id: $kid"

out=$(openssl dgst -sha1 -verify "$pub" -signature "$tmp/sig.bin" \
      "$tmp/policy.txt" 2>&1) || true
echo "$out"

[ "$out" = "Verified OK" ]

#!/usr/bin/python3
"""Print botocore's CloudFront signed URL (canned policy), for comparison
with ts_cloudfront_sign().  RSA PKCS#1 v1.5 is deterministic, so the two
must be equal byte for byte.  The RSA-SHA1 signature is made by
`openssl dgst -sha1 -sign`, so no Python RSA library is needed.  Run with
Debian's /usr/bin/python3 (python3-botocore).

    cloudfront-sign.py --url URL --expires EPOCH --key-pair-id K --key KEY.pem
"""

import argparse
import datetime
import subprocess
import sys

from botocore.signers import CloudFrontSigner


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--url', required=True)
    p.add_argument('--expires', type=int, required=True)
    p.add_argument('--key-pair-id', required=True)
    p.add_argument('--key', required=True)
    a = p.parse_args()

    def rsa_signer(message):
        return subprocess.run(['openssl', 'dgst', '-sha1', '-sign', a.key],
                              input=message, stdout=subprocess.PIPE,
                              check=True).stdout

    # datetime2timestamp() takes a naive datetime as UTC
    expires = (datetime.datetime(1970, 1, 1)
               + datetime.timedelta(seconds=a.expires))

    signer = CloudFrontSigner(a.key_pair_id, rsa_signer)
    print(signer.generate_presigned_url(a.url, date_less_than=expires))
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
"""Print the S3 SigV4 presigned URL botocore makes, for comparison with
ts_s3_presign().  Run with Debian's /usr/bin/python3 (python3-botocore);
the clock is frozen at --now, so the URL is deterministic.

    presign.py --bucket B --region R --key K --expires N --now EPOCH \
        --access-key A --secret-key S [--session-token T] \
        [--endpoint http://127.0.0.1:4569] [--content-type CT] \
        [--content-length N] [--method PUT|GET]

With --endpoint the URL is path style (endpoint/bucket/key); without it,
botocore's own AWS host (virtual-hosted style).
"""

import argparse
import datetime
import sys

import botocore.auth
import botocore.session
from botocore.config import Config


def frozen_datetime(epoch):
    """A stand-in for the datetime module botocore.auth imports."""

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime(1970, 1, 1) + datetime.timedelta(
                seconds=epoch)

    class Module:
        pass

    module = Module()
    module.__dict__.update(datetime.__dict__)
    module.datetime = FrozenDatetime
    return module


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--bucket', required=True)
    p.add_argument('--region', required=True)
    p.add_argument('--key', required=True)
    p.add_argument('--expires', type=int, required=True)
    p.add_argument('--now', type=int, required=True)
    p.add_argument('--access-key', required=True)
    p.add_argument('--secret-key', required=True)
    p.add_argument('--session-token')
    p.add_argument('--endpoint')
    p.add_argument('--content-type')
    p.add_argument('--content-length', type=int)
    p.add_argument('--method', choices=('PUT', 'GET'), default='PUT')
    a = p.parse_args()

    botocore.auth.datetime = frozen_datetime(a.now)

    s3 = {'addressing_style': 'path'} if a.endpoint else {}
    kwargs = {
        'region_name': a.region,
        'aws_access_key_id': a.access_key,
        'aws_secret_access_key': a.secret_key,
        'config': Config(signature_version='s3v4', s3=s3),
    }
    if a.session_token:
        kwargs['aws_session_token'] = a.session_token
    if a.endpoint:
        kwargs['endpoint_url'] = a.endpoint

    session = botocore.session.get_session()
    # no ~/.aws or AWS_* environment may leak into the result
    session.set_config_variable('config_file', '/dev/null')
    session.set_config_variable('credentials_file', '/dev/null')
    client = session.create_client('s3', **kwargs)

    params = {'Bucket': a.bucket, 'Key': a.key}
    if a.content_type:
        params['ContentType'] = a.content_type
    if a.content_length is not None:
        params['ContentLength'] = a.content_length

    op = 'put_object' if a.method == 'PUT' else 'get_object'
    print(client.generate_presigned_url(op, Params=params,
                                        ExpiresIn=a.expires))
    return 0


if __name__ == '__main__':
    sys.exit(main())

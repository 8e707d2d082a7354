'use strict';

/*
 * s3rver (3.7.1) on 127.0.0.1, with the one thing it lacks for our tests:
 * it checks SigV4 signatures.  s3rver itself accepts any well-formed V4
 * signature from a known access key ("Signature version 4 calculation is
 * unimplemented" in its authentication middleware); this middleware, put
 * in front, recomputes the signature of presigned URLs (X-Amz-* in the
 * query) and of Authorization-header requests and answers 403
 * SignatureDoesNotMatch when it differs.  Expiry, the access key and the
 * storage stay s3rver's.  The keys are s3rver's: S3RVER / S3RVER.
 *
 *     NODE_PATH=<dir>/node_modules node s3rver.js DIR PORT BUCKET...
 */

const crypto = require('crypto');
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');
const S3Error = require('s3rver/lib/models/error');

function rfc3986(s) {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    c => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return s;
  }
}

function hmac(key, text) {
  return crypto.createHmac('sha256', key).update(text, 'utf8').digest();
}

function bad(message) {
  return new S3Error('AccessDenied', message);
}

function sigv4(ctx, next) {
  const raw = ctx.req.url;
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = (q < 0 ? '' : raw.slice(q + 1))
    .split('&')
    .filter(p => p !== '')
    .map(p => {
      const eq = p.indexOf('=');
      return eq < 0
        ? [decode(p), '']
        : [decode(p.slice(0, eq)), decode(p.slice(eq + 1))];
    });
  const query = Object.fromEntries(params);
  let signature, credential, signedHeaders, date, payload;

  if ('X-Amz-Signature' in query) {
    signature = query['X-Amz-Signature'];
    credential = query['X-Amz-Credential'];
    signedHeaders = query['X-Amz-SignedHeaders'];
    date = query['X-Amz-Date'];
    payload = 'UNSIGNED-PAYLOAD';
  } else if (/^AWS4-HMAC-SHA256 /.test(ctx.get('Authorization'))) {
    const auth = {};
    for (const part of ctx.get('Authorization').slice(17).split(',')) {
      const [k, ...v] = part.trim().split('=');
      auth[k] = v.join('=');
    }
    signature = auth.Signature;
    credential = auth.Credential;
    signedHeaders = auth.SignedHeaders;
    date = ctx.get('X-Amz-Date');
    payload = ctx.get('X-Amz-Content-Sha256') || 'UNSIGNED-PAYLOAD';
  } else {
    return next();             /* anonymous, or V2: s3rver's own rules */
  }

  if (!signature || !credential || !signedHeaders || !date) {
    throw bad('incomplete SigV4 authentication');
  }

  const [accessKey, day, region, service, term] = credential.split('/');
  const secret = AWSAccount.registry.has(accessKey)
    && AWSAccount.registry.get(accessKey).accessKeys.get(accessKey);
  if (!secret) {
    throw new S3Error('InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
      { AWSAccessKeyId: accessKey });
  }
  if (day !== date.slice(0, 8) || service !== 's3' || term !== 'aws4_request')
  {
    throw bad('malformed credential scope: ' + credential);
  }

  const canonicalQuery = params
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1
                     : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => k + '=' + v)
    .join('&');
  const canonicalHeaders = signedHeaders
    .split(';')
    .map(h => h + ':' + (ctx.req.headers[h] || '').trim().replace(/\s+/g, ' ')
         + '\n')
    .join('');
  const canonicalRequest = [ctx.method, path, canonicalQuery,
    canonicalHeaders, signedHeaders, payload].join('\n');
  const scope = [day, region, service, term].join('/');
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope,
    crypto.createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');

  let key = hmac('AWS4' + secret, day);
  for (const part of [region, service, term]) {
    key = hmac(key, part);
  }
  const expected = hmac(key, stringToSign).toString('hex');

  if (expected.length !== signature.length
      || !crypto.timingSafeEqual(Buffer.from(expected),
                                 Buffer.from(signature)))
  {
    throw new S3Error('SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature '
      + 'you provided. Check your key and signing method.',
      { AWSAccessKeyId: accessKey, StringToSign: stringToSign,
        CanonicalRequest: canonicalRequest });
  }

  return next();
}

async function main() {
  const [directory, port, ...buckets] = process.argv.slice(2);

  if (!directory || !port || buckets.length === 0) {
    console.error('usage: s3rver.js DIR PORT BUCKET...');
    process.exit(2);
  }

  const server = new S3rver({
    directory,
    address: '127.0.0.1',
    port: Number(port),
    silent: false,
    configureBuckets: buckets.map(name => ({ name, configs: [] })),
  });

  /* after s3rver's logger, before everything else */
  server.middleware.splice(1, 0, sigv4);

  const { address, port: bound } = await server.run();
  console.log('s3rver (SigV4 checked) listening on %s:%d', address, bound);

  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => server.close().then(() => process.exit(0)));
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});

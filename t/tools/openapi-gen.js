#!/usr/bin/env node
// Writes www/openapi.json, the OpenAPI 3.1 description of Tunesheap's API,
// from the tables below (one description per resource, as src/ts_resource.c
// has them).  No dependencies: `node t/tools/openapi-gen.js [out]`, or
// `--check` to fail when the committed file differs from what this makes.
//
// Kept true by t/290-openapi.t: every response the suites receive must
// validate against the file, every route and method in it must be
// exercised, and a route or status the module serves must be in it.

'use strict';

const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '../..');

// ---------------------------------------------------------------------------
// Resources: fields, filters, relations (src/ts_resource.c)
// ---------------------------------------------------------------------------

const id = { type: 'integer', format: 'int64', minimum: 0 };
const nullable = (s) => ({ ...s, type: [s.type, 'null'] });
const text = (max) => ({ type: 'string', minLength: 0, maxLength: max });

const resources = [
  {
    name: 'artists', one: 'artist', Name: 'Artist',
    fields: {
      id: { ...id, description: 'Set by the server.' },
      name: { type: 'string', maxLength: 200, example: 'Jay-Z' },
      country: nullable(text(100)),
      description: nullable(text(5000)),
      dob: nullable({
        type: 'string',
        pattern: '^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} UTC$',
        description: 'Date of birth, UTC: `YYYY-MM-DD HH:MM:SS UTC`.',
      }),
      website: nullable(text(500)),
      picture_url: nullable(text(500)),
    },
    input: {
      name: { type: 'string', minLength: 1, maxLength: 200 },
      country: nullable(text(100)),
      description: nullable(text(5000)),
      dob: nullable({
        type: 'string',
        pattern: '^\\d{4}-\\d{2}-\\d{2}( \\d{2}:\\d{2}:\\d{2} UTC|T\\d{2}:\\d{2}:\\d{2}Z)?$',
        description: '`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS UTC` or ' +
          '`YYYY-MM-DDTHH:MM:SSZ` (UTC), a real date.',
      }),
      website: nullable(text(500)),
      picture_url: nullable(text(500)),
    },
    required: ['name'],
    filters: { country: { type: 'string', maxLength: 200 } },
    relations: { albums: 'albums', songs: 'songs' },
    example: {
      id: 4, name: 'Jay-Z', country: 'USA', description: 'New York native. ',
      dob: '1969-12-04 00:00:00 UTC', website: 'www.rocafella.com',
      picture_url: 'https://tunesheap-content.s3.amazonaws.com/4-artist-picture',
    },
    exampleInput: {
      name: 'Björk', country: 'Iceland', dob: '1965-11-21',
    },
  },
  {
    name: 'albums', one: 'album', Name: 'Album',
    fields: {
      id: { ...id, description: 'Set by the server.' },
      artist_id: id,
      title: { type: 'string', maxLength: 200 },
      release_date: nullable({ type: 'string', format: 'date' }),
      genre: nullable(text(100)),
      cover_url: nullable(text(500)),
    },
    input: {
      artist_id: { ...id, description: 'An existing artist.' },
      title: { type: 'string', minLength: 1, maxLength: 200 },
      release_date: nullable({ type: 'string', format: 'date' }),
      genre: nullable(text(100)),
      cover_url: nullable(text(500)),
    },
    required: ['artist_id', 'title'],
    filters: { artist_id: id, genre: { type: 'string', maxLength: 200 } },
    relations: { songs: 'songs' },
    example: {
      id: 11, artist_id: 4, title: 'The Blueprint', release_date: '2001-09-11',
      genre: 'Hip-Hop',
      cover_url: 'https://tunesheap-content.s3.amazonaws.com/11-album-cover',
    },
    exampleInput: { artist_id: 4, title: 'The Blueprint 2', genre: 'Hip-Hop' },
  },
  {
    name: 'songs', one: 'song', Name: 'Song',
    fields: {
      id: { ...id, description: 'Set by the server.' },
      album_id: id,
      artist_id: id,
      title: { type: 'string', maxLength: 200 },
      track_number: nullable({ type: 'integer', minimum: 0, maximum: 2147483647 }),
      duration_ms: nullable({ type: 'integer', minimum: 0, maximum: 2147483647 }),
      audio: {
        oneOf: [{ $ref: '#/components/schemas/Audio' }, { type: 'null' }],
        description: 'The song\'s audio; `null` without audio. Changed ' +
          'only through the audio routes.',
      },
      stream_url: {
        type: ['string', 'null'],
        description: 'Plays the audio: a signed link to ' +
          '`/api/v1/songs/{id}/stream` (local storage), a CloudFront ' +
          'signed URL or an S3 presigned GET; `null` without audio. ' +
          'Every answer in a 15-minute window carries the same link.',
      },
    },
    input: {
      album_id: { ...id, description: 'An existing album.' },
      artist_id: { ...id, description: 'An existing artist.' },
      title: { type: 'string', minLength: 1, maxLength: 200 },
      track_number: nullable({ type: 'integer', minimum: 0, maximum: 2147483647 }),
      duration_ms: nullable({ type: 'integer', minimum: 0, maximum: 2147483647 }),
    },
    required: ['album_id', 'artist_id', 'title'],
    filters: { album_id: id, artist_id: id },
    relations: {},
    example: {
      id: 109, album_id: 11, artist_id: 4, title: 'Takeover', track_number: 2,
      duration_ms: 232768,
      audio: { content_type: 'audio/mpeg', size: 2862208, bitrate_kbps: 96,
               duration_ms: 238500 },
      stream_url: '/api/v1/songs/109/stream?expires=1795746600&' +
        'key=109-9f81cd6aa47fa4eb.mp3&signature=3x0SgW0tN1gqDq2bJ8lTqkXwWc4mZ4mQ8bYxqvZf9aA',
    },
    exampleInput: { album_id: 11, artist_id: 4, title: 'Izzo (H.O.V.A.)',
                    track_number: 3 },
  },
  {
    name: 'playlists', one: 'playlist', Name: 'Playlist',
    fields: {
      id: { ...id, description: 'Set by the server.' },
      name: { type: 'string', maxLength: 200 },
      description: nullable(text(5000)),
      category: nullable(text(100)),
      cover_url: nullable(text(500)),
      created_at: {
        type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} UTC$',
        description: 'Set by the server, UTC.',
      },
      updated_at: {
        type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} UTC$',
        description: 'The last write of the playlist or of its songs, UTC.',
      },
      revision: {
        type: 'integer', format: 'int64', minimum: 1,
        description: 'Counts the writes of the playlist and of its songs ' +
          '(as Spotify\'s `snapshot_id`): its ETag changes with them.',
      },
    },
    input: {
      name: { type: 'string', minLength: 1, maxLength: 200 },
      description: nullable(text(5000)),
      category: nullable(text(100)),
      cover_url: nullable(text(500)),
    },
    required: ['name'],
    filters: { category: { type: 'string', maxLength: 200 } },
    relations: {},
    example: {
      id: 1, name: 'Today\'s Top Hits',
      description: 'The hottest tracks right now.', category: 'Pop',
      cover_url: 'https://tunesheap-content.s3.amazonaws.com/1-playlist-cover',
      created_at: '2026-11-30 09:00:00 UTC',
      updated_at: '2026-12-01 08:15:42 UTC', revision: 12,
    },
    exampleInput: { name: 'RapCaviar', category: 'Hip-Hop' },
  },
];

const byName = Object.fromEntries(resources.map((r) => [r.name, r]));

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

const ref = (kind, name) => ({ $ref: `#/components/${kind}/${name}` });
const jsonContent = (schema, examples) => ({
  'application/json': { schema, ...(examples ? { examples } : {}) },
});

const errorExamples = {
  400: 'artist id must be a non-negative integer',
  401: 'an API key is required: Authorization: Bearer <key>',
  403: 'this API key may not write',
  404: 'artist 99 not found',
  409: 'artist 4 still has albums: delete them first',
  412: 'song 13 has changed: If-Match does not match its ETag',
  413: 'the body is larger than 65536 bytes',
  415: 'Content-Type must be application/json',
  503: 'the database is unavailable',
  414: 'the URI is too long',
  416: 'the range is not satisfiable',
  429: 'too many requests: retry later',
  501: 'not implemented',
  504: 'the database did not answer in time',
  500: 'internal error',
};

const errorText = {
  400: 'An id, `limit`, `offset`, `after`, `before` or filter that is not ' +
    'valid, two of `offset`/`after`/`before`, an anchor item not in the ' +
    'list; a body that is not JSON; a request nginx cannot parse (no ' +
    '`Host`, a header too large, a header twice); an `Idempotency-Key` ' +
    'that is not 1 to 255 printable ASCII characters, or given twice.',
  401: 'A key is needed (writes; reads with `tunesheap_auth_read on`) and ' +
    'none valid was given.',
  403: 'The key lacks the scope needed; or a stream link that is tampered ' +
    'with or expired.',
  404: 'No item with this id (also as the parent of a nested list).',
  409: 'Deleting an artist or album that still has albums or songs, or a ' +
    'song that playlists hold (the message names them); a playlist\'s ' +
    'entry write with a position past the end or an entry no longer in ' +
    'the playlist; an audio route of the other kind of storage; a write ' +
    'whose `Idempotency-Key` is in use by a request still running (retry ' +
    'later).',
  412: '`If-Match` does not match the item\'s ETag: nothing changed.',
  413: 'A body larger than `tunesheap_max_body_size`, or audio larger than ' +
    '`tunesheap_media_max_size`.',
  415: 'A body whose `Content-Type` is not `application/json`; an upload ' +
    'that is not audio in a format taken.',
  422: 'The body\'s fields are wrong: every problem is named in `fields`; ' +
    'or an `Idempotency-Key` used before with another method, path or body.',
  414: 'A request line longer than nginx\'s ' +
    '`large_client_header_buffers` (nginx\'s own answer, as JSON).',
  416: 'The range cannot be satisfied (nginx\'s own answer, as JSON).',
  429: 'Over the shipped configuration\'s `limit_req` or `limit_conn` ' +
    'budget for the client\'s address (nginx\'s own answer, as JSON).',
  501: 'A `Transfer-Encoding` nginx does not know (nginx\'s own answer, ' +
    'as JSON).',
  500: 'Anything else (logged).',
  503: 'Postgres cannot be reached, or too many requests wait for it; a ' +
    'write whose connection broke after it was sent (it may or may not ' +
    'have been done: retry it with its `Idempotency-Key`).',
  504: 'Postgres did not answer within `tunesheap_postgres_timeout`.',
};

function errorResponse(status) {
  const res = {
    description: errorText[status],
    content: jsonContent(ref('schemas', 'Error'), {
      error: { value: { error: { status, message: errorExamples[status] } } },
    }),
  };
  if (status === 401) {
    res.headers = { 'WWW-Authenticate': ref('headers', 'WWW-Authenticate') };
  }
  if (status === 503 || status === 429) {
    res.headers = { 'Retry-After': ref('headers', 'Retry-After') };
  }
  return res;
}

const responses = {};
for (const s of [400, 401, 403, 404, 409, 412, 413, 414, 415, 429, 500, 501,
                 503, 504]) {
  responses[`Error${s}`] = errorResponse(s);
}
responses.Error422 = {
  description: errorText[422],
  content: jsonContent(ref('schemas', 'Error'), {
    fields: {
      value: { error: { status: 422, message: 'validation failed',
                        fields: { name: 'is required', dob: 'is not a date' } } },
    },
  }),
};
responses.NotModified = {
  description: 'The `If-None-Match` given matches: no body.',
  headers: { ETag: ref('headers', 'ETag') },
};

const headers = {
  ETag: {
    description: 'Strong: an item\'s hash from Postgres (32 hex digits), ' +
      'or a 64-bit hash (MurmurHash64A, 16 hex digits) of the exact body ' +
      'of a list or search; weak (`W/"..."`, the same tag) on ' +
      'a gzipped answer (`Accept-Encoding: gzip`), which `If-None-Match` ' +
      'still matches.',
    schema: { type: 'string', pattern: '^(W/)?"[^"]*"$' },
  },
  'X-Cache': {
    description: 'Which level answered: `HIT shm`, `HIT redis`, ' +
      '`HIT coalesced`, `MISS` or `BYPASS`.',
    schema: { type: 'string',
              enum: ['HIT shm', 'HIT redis', 'HIT coalesced', 'MISS', 'BYPASS'] },
  },
  Location: {
    description: 'The new item.',
    required: true,
    schema: { type: 'string' },
  },
  'WWW-Authenticate': {
    description: '`Bearer realm="tunesheap"`, with `error="invalid_token"` ' +
      'or `error="invalid_request"` when a key was given.',
    required: true,
    schema: { type: 'string', pattern: '^Bearer realm="tunesheap"' },
  },
  'Retry-After': {
    required: true,
    schema: { type: 'string', const: '1' },
  },
  'Idempotent-Replayed': {
    description: 'On the answer to a retry with an `Idempotency-Key`: the ' +
      'first answer again (status, body, `ETag`, `Location`); nothing ' +
      'was written this time.',
    schema: { type: 'string', const: 'true' },
  },
  'Accept-Ranges': { schema: { type: 'string', const: 'bytes' } },
  'Content-Range': {
    description: '`bytes first-last/size` (206), `bytes */size` (416).',
    required: true,
    schema: { type: 'string', pattern: '^bytes (\\d+-\\d+|\\*)/\\d+$' },
  },
  'Cache-Control': {
    description: '`private, max-age=` the link\'s remaining life.',
    schema: { type: 'string' },
  },
  // who may keep an answer (src/ts_headers.c, README "Caching headers")
  'Cache-Control-Read': {
    description: 'A read without a key: `public, max-age=5, s-maxage=10, ' +
      'stale-while-revalidate=10` (the server\'s `tunesheap_cache_control`; ' +
      'where songs carry stream links, capped so that no cache keeps an ' +
      'answer past its links); with a key (`Authorization`): `private, ' +
      'no-store`, never kept by a shared cache; health: `no-store`. A ' +
      'write is visible through a shared cache within `s-maxage` + ' +
      '`stale-while-revalidate` (+ 1 s).',
    schema: { type: 'string', pattern: '^(public, max-age=\\d+, ' +
      's-maxage=\\d+(, stale-while-revalidate=\\d+)?|(private, )?no-store)$' },
  },
  'Cache-Control-NotModified': {
    description: 'As the 200 it stands for: a read\'s (`public, ...` or ' +
      '`private, no-store`), or the stream file\'s (`private, max-age=`).',
    schema: { type: 'string', pattern: '^(public, max-age=\\d+, ' +
      's-maxage=\\d+(, stale-while-revalidate=\\d+)?|private, no-store|' +
      'private, max-age=\\d+)$' },
  },
  'Cache-Control-Write': {
    description: 'Every answer to a write: never kept.',
    schema: { type: 'string', const: 'private, no-store' },
  },
  'Cache-Control-Error': {
    description: 'Errors are never kept: `no-store` (`private, no-store` ' +
      'for a request with a key, or a write).',
    schema: { type: 'string', pattern: '^(private, )?no-store$' },
  },
  'X-Content-Type-Options': {
    description: 'On every answer of the API\'s server: a browser takes ' +
      'the answer as its `Content-Type` says, never as something else.',
    schema: { type: 'string', const: 'nosniff' },
  },
};

const schemas = {
  Error: {
    type: 'object',
    description: 'Every error the module sends, with the status repeated.',
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['status', 'message'],
        additionalProperties: false,
        properties: {
          status: { type: 'integer', minimum: 400, maximum: 599 },
          message: { type: 'string' },
          fields: {
            type: 'object',
            description: 'On a 422 of a write: what is wrong with each field.',
            additionalProperties: { type: 'string' },
          },
        },
      },
    },
  },
  Meta: {
    type: 'object',
    description: 'A list\'s page: the total, the limit, the offset (`null` ' +
      'on pages `after=` or `before=` an item) and links to the ' +
      'neighbouring pages, relative to the server, keeping the filters, ' +
      '`null` when there is nothing that way.',
    required: ['total', 'limit', 'offset', 'next', 'previous'],
    additionalProperties: false,
    properties: {
      total: { type: 'integer', minimum: 0 },
      limit: { type: 'integer', minimum: 1, maximum: 100 },
      offset: { type: ['integer', 'null'], minimum: 0 },
      next: {
        type: ['string', 'null'],
        description: '`after=` the page\'s last item; `null` on the last page.',
        pattern: '^/api/v1/',
      },
      previous: {
        type: ['string', 'null'],
        description: 'By `offset` from an offset page, `before=` the page\'s ' +
          'first item from the others.',
        pattern: '^/api/v1/',
      },
    },
    example: {
      total: 3, limit: 2, offset: 0, next: '/api/v1/artists/4/albums?limit=2&after=11',
      previous: null,
    },
  },
  Audio: {
    type: 'object',
    required: ['content_type', 'size', 'bitrate_kbps', 'duration_ms'],
    additionalProperties: false,
    properties: {
      content_type: { type: 'string',
                      enum: ['audio/mpeg', 'audio/ogg', 'audio/flac', 'audio/mp4'] },
      size: { type: 'integer', minimum: 0, description: 'Bytes.' },
      bitrate_kbps: { type: ['integer', 'null'], minimum: 0 },
      duration_ms: { type: ['integer', 'null'], minimum: 0 },
    },
    example: { content_type: 'audio/mpeg', size: 2862208, bitrate_kbps: 96,
               duration_ms: 238500 },
  },
  Health: {
    type: 'object',
    required: ['status', 'postgres'],
    additionalProperties: false,
    properties: {
      status: { type: 'string', enum: ['ok', 'unavailable'] },
      postgres: { type: 'string', enum: ['ok', 'down'] },
      redis: { type: 'string', enum: ['ok', 'slow', 'down'],
               description: 'Only with `tunesheap_redis`: `ok` when it ' +
                 'answered a PING, `slow` when it did not within ' +
                 '`tunesheap_redis_timeout`, `down` when it cannot be ' +
                 'reached. Neither is an error: the API answers from ' +
                 'Postgres.' },
    },
  },
  StreamLink: {
    type: 'object',
    required: ['stream_url'],
    additionalProperties: false,
    properties: { stream_url: { type: 'string' } },
  },
  Upload: {
    type: 'object',
    required: ['upload_url', 'method', 'headers', 'key', 'expires_at'],
    additionalProperties: false,
    properties: {
      upload_url: { type: 'string', description: 'A presigned PUT (SigV4).' },
      method: { type: 'string', const: 'PUT' },
      headers: {
        type: 'object',
        description: 'The headers the PUT must send; both are signed: ' +
          'S3 refuses another type, or a body of another length.',
        required: ['Content-Type', 'Content-Length'],
        properties: { 'Content-Type': { type: 'string' },
                      'Content-Length': { type: 'string', pattern: '^[1-9][0-9]*$' } },
        additionalProperties: { type: 'string' },
      },
      key: { type: 'string', description: 'The object\'s key, for complete.' },
      expires_at: { type: 'string', format: 'date-time' },
    },
  },
  UploadRequest: {
    type: 'object',
    required: ['content_type', 'size'],
    properties: {
      content_type: { type: 'string',
                      enum: ['audio/mpeg', 'audio/ogg', 'audio/flac', 'audio/mp4'] },
      size: { type: 'integer', minimum: 1,
              description: 'The file\'s length in bytes, at most ' +
                '`tunesheap_media_max_size`: the presigned PUT signs it.' },
    },
  },
  UploadComplete: {
    type: 'object',
    required: ['key', 'size'],
    properties: {
      key: { type: 'string', description: 'The key `upload` gave.' },
      size: { type: 'integer', minimum: 0,
              description: 'The object\'s length: it must be S3\'s.' },
      duration_ms: { type: 'integer', minimum: 0,
                     description: 'Ignored: what is recorded comes from ' +
                       'the object\'s bytes.' },
      bitrate_kbps: { type: 'integer', minimum: 0,
                      description: 'Ignored, as duration_ms.' },
    },
  },
  AudioAnswer: {
    type: 'object',
    required: ['audio'],
    additionalProperties: false,
    properties: { audio: ref('schemas', 'Audio') },
  },
};

for (const r of resources) {
  schemas[r.Name] = {
    type: 'object',
    description: `Every field is always present, in this order; unknown ` +
      `values are \`null\`.`,
    required: Object.keys(r.fields),
    additionalProperties: false,
    properties: r.fields,
    example: r.example,
  };
  schemas[`${r.Name}Input`] = {
    type: 'object',
    description: 'The fields a write takes. `POST` and `PUT` need the ' +
      `required ones (${r.required.join(', ')}); \`PUT\` sets the ones left ` +
      'out to `null`; `PATCH` changes only those given.',
    additionalProperties: false,
    properties: r.input,
  };
  schemas[`${r.Name}Item`] = {
    type: 'object',
    required: [r.one],
    additionalProperties: false,
    properties: { [r.one]: ref('schemas', r.Name) },
  };
  schemas[`${r.Name}List`] = {
    type: 'object',
    required: [r.name, 'meta'],
    additionalProperties: false,
    properties: {
      [r.name]: { type: 'array', items: ref('schemas', r.Name) },
      meta: ref('schemas', 'Meta'),
    },
  };
}

schemas.SearchResult = {
  type: 'object',
  description: 'One array for each type searched (all of them by default), ' +
    'best match first, at most `limit` each.',
  minProperties: 1,
  additionalProperties: false,
  properties: {
    artists: { type: 'array', items: ref('schemas', 'Artist') },
    albums: { type: 'array', items: ref('schemas', 'Album') },
    songs: { type: 'array', items: ref('schemas', 'Song') },
    playlists: { type: 'array', items: ref('schemas', 'Playlist') },
  },
};

// a playlist's entries (an ordered relation in src/ts_resource.c)
schemas.PlaylistEntry = {
  type: 'object',
  required: ['entry_id', 'position', 'song'],
  additionalProperties: false,
  properties: {
    entry_id: { ...id, description: 'This entry: a song may be in a ' +
      'playlist more than once, an entry only once. Moves and removals ' +
      'name it; it stays the same when the entry moves.' },
    position: { type: 'integer', minimum: 0,
                description: 'From 0, without gaps.' },
    song: ref('schemas', 'Song'),
  },
};
schemas.PlaylistEntryList = {
  type: 'object',
  required: ['songs', 'meta'],
  additionalProperties: false,
  properties: {
    songs: { type: 'array', items: ref('schemas', 'PlaylistEntry') },
    meta: ref('schemas', 'Meta'),
  },
};

const parameters = {
  id: {
    name: 'id', in: 'path', required: true,
    description: 'The item\'s id (a 400 if not a non-negative integer).',
    schema: id, example: 4,
  },
  limit: {
    name: 'limit', in: 'query',
    description: 'Items per page.',
    schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
  },
  offset: {
    name: 'offset', in: 'query',
    description: 'The items from the `offset`th on. At most one of ' +
      '`offset`, `after` and `before`.',
    schema: { type: 'integer', format: 'int64', minimum: 0, default: 0 },
  },
  after: {
    name: 'after', in: 'query',
    description: 'The items that follow this item (which must be in the ' +
      'list: otherwise a 400). As Stripe\'s `starting_after`.',
    schema: id,
  },
  before: {
    name: 'before', in: 'query',
    description: 'The items just before this item (which must be in the list).',
    schema: id,
  },
  'If-None-Match': {
    name: 'If-None-Match', in: 'header',
    description: 'ETags (or `*`): a match is a 304 without a body.',
    schema: { type: 'string' },
  },
  'Idempotency-Key': {
    name: 'Idempotency-Key', in: 'header',
    description: 'Makes the write safe to retry: one the client makes per ' +
      'write (e.g. a UUID). A retry with the same key, from the same API ' +
      'key, with the same method, path and body, within 24 hours, writes ' +
      'nothing and gets the first answer again, with ' +
      '`Idempotent-Replayed: true`; with another method, path or body a ' +
      '422; while the first is still running a 409. Only writes that ' +
      'wrote are recorded.',
    schema: { type: 'string', minLength: 1, maxLength: 255,
              pattern: '^[!-~]+$' },
    example: '6f1c1f0e-2d4b-4d7e-9b7a-3f0c8f1e5a21',
  },
  'If-Match': {
    name: 'If-Match', in: 'header',
    description: 'Done only if the item\'s ETag is one of these (`*`: if ' +
      'it exists); otherwise a 412 and nothing changes.',
    schema: { type: 'string' },
  },
};

const readSecurity = [{}, { apiKey: ['read'] }];
const writeSecurity = [{ apiKey: ['write'] }];

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

function std(codes) {
  const out = {};
  for (const c of codes) {
    if (c === 304) out[304] = ref('responses', 'NotModified');
    else out[c] = ref('responses', `Error${c}`);
  }
  return out;
}

const okHeaders = {
  ETag: ref('headers', 'ETag'),
  'X-Cache': ref('headers', 'X-Cache'),
};

// a GET and its HEAD (same statuses, no bodies)
function readPair(opId, summary, description, params, ok, errors, security,
                  tags) {
  const get = {
    operationId: opId, summary, description, tags, parameters: params,
    security,
    responses: { 200: ok, ...std([304, ...errors, 429, 500]) },
  };
  const headOk = { description: ok.description + ' (headers only)',
                   headers: ok.headers };
  const headResponses = { 200: headOk };
  for (const [code, r] of Object.entries(get.responses)) {
    if (code === '200') continue;
    headResponses[code] = code === '304' ? r
      : { description: errorText[code] + ' No body.' };
    if (code === '401') {
      headResponses[code].headers = {
        'WWW-Authenticate': ref('headers', 'WWW-Authenticate') };
    }
    if (code === '503' || code === '429') {
      headResponses[code].headers = {
        'Retry-After': ref('headers', 'Retry-After') };
    }
  }
  const head = {
    operationId: `${opId}Head`, summary: `${summary} (headers only)`,
    tags, parameters: params, security, responses: headResponses,
  };
  return { get, head };
}

function listParams(r) {
  const p = [];
  for (const [name, schema] of Object.entries(r.filters)) {
    p.push({ name, in: 'query', description: 'Filter: an exact match.',
             schema });
  }
  return p.concat([ref('parameters', 'limit'), ref('parameters', 'offset'),
                   ref('parameters', 'after'), ref('parameters', 'before'),
                   ref('parameters', 'If-None-Match')]);
}

const listOrder = 'Ordered by id.';

function listOk(r, example) {
  return {
    description: `A page of ${r.name}.`,
    headers: okHeaders,
    content: jsonContent(ref('schemas', `${r.Name}List`), example ? {
      page: { value: example } } : undefined),
  };
}

function itemOk(r, description, extra) {
  return {
    description,
    headers: { ETag: ref('headers', 'ETag'), ...(extra || {}) },
    content: jsonContent(ref('schemas', `${r.Name}Item`), {
      [r.one]: { value: { [r.one]: r.example } } }),
  };
}

const paths = {};

const samplePages = {
  artists: {
    artists: [byName.artists.example], meta: {
      total: 36, limit: 1, offset: null,
      next: '/api/v1/artists?limit=1&after=4',
      previous: '/api/v1/artists?limit=1&before=4' },
  },
  albums: {
    albums: [byName.albums.example], meta: {
      total: 3, limit: 1, offset: 1,
      next: '/api/v1/albums?artist_id=4&limit=1&after=11',
      previous: '/api/v1/albums?artist_id=4&limit=1&offset=0' },
  },
  songs: {
    songs: [byName.songs.example], meta: {
      total: 13, limit: 1, offset: 1,
      next: '/api/v1/songs?album_id=11&limit=1&after=109',
      previous: '/api/v1/songs?album_id=11&limit=1&offset=0' },
  },
  playlists: {
    playlists: [byName.playlists.example], meta: {
      total: 2, limit: 1, offset: 0,
      next: '/api/v1/playlists?limit=1&after=1', previous: null },
  },
};

for (const r of resources) {
  const tags = [r.Name + 's'];
  const list = readPair(`list${r.Name}s`, `List ${r.name}`,
    `${listOrder} Filters are exact matches; unknown arguments are ignored.`,
    listParams(r), listOk(r, samplePages[r.name]),
    [400, 401, 403, 503, 504], readSecurity, tags);
  paths[`/${r.name}`] = {
    ...list,
    post: {
      operationId: `create${r.Name}`, summary: `Create an ${r.one}`.replace(/an ([^aeiou])/, 'a $1'),
      tags, security: writeSecurity,
      requestBody: {
        required: true,
        content: jsonContent({
          type: 'object', required: [r.one], additionalProperties: false,
          properties: { [r.one]: { allOf: [ref('schemas', `${r.Name}Input`)],
                                   required: r.required } },
        }, { [r.one]: { value: { [r.one]: r.exampleInput } } }),
      },
      responses: {
        201: itemOk(r, `Created; \`Location\` names the new ${r.one}.`,
                    { Location: ref('headers', 'Location') }),
        ...std([400, 401, 403, 413, 415, 422, 429, 500, 503, 504]),
      },
    },
  };

  const item = readPair(`get${r.Name}`, `Get an ${r.one}`.replace(/an ([^aeiou])/, 'a $1'),
    undefined, [ref('parameters', 'id'), ref('parameters', 'If-None-Match')],
    itemOk(r, `The ${r.one}.`, { 'X-Cache': ref('headers', 'X-Cache') }),
    [400, 401, 403, 404, 503, 504], readSecurity, tags);
  delete item.get.description;
  const body = (req) => ({
    required: true,
    content: jsonContent({
      type: 'object', required: [r.one], additionalProperties: false,
      properties: { [r.one]: req ? { allOf: [ref('schemas', `${r.Name}Input`)],
                                     required: r.required }
                                 : ref('schemas', `${r.Name}Input`) },
    }, { [r.one]: { value: { [r.one]: req ? r.exampleInput
                                          : { [r.required.slice(-1)[0]]: r.exampleInput[r.required.slice(-1)[0]] } } } }),
  });
  const writeParams = [ref('parameters', 'id'), ref('parameters', 'If-Match')];
  paths[`/${r.name}/{id}`] = {
    ...item,
    put: {
      operationId: `replace${r.Name}`, summary: `Replace an ${r.one}`.replace(/an ([^aeiou])/, 'a $1'),
      description: 'Fields left out become `null`.',
      tags, security: writeSecurity, parameters: writeParams,
      requestBody: body(true),
      responses: {
        200: itemOk(r, `The ${r.one} as it is now.`),
        ...std([400, 401, 403, 404, 412, 413, 415, 422, 429, 500, 503, 504]),
      },
    },
    patch: {
      operationId: `update${r.Name}`, summary: `Change fields of an ${r.one}`.replace(/an ([^aeiou])/, 'a $1'),
      description: 'Only the fields given change.',
      tags, security: writeSecurity, parameters: writeParams,
      requestBody: body(false),
      responses: {
        200: itemOk(r, `The ${r.one} as it is now.`),
        ...std([400, 401, 403, 404, 412, 413, 415, 422, 429, 500, 503, 504]),
      },
    },
    delete: {
      operationId: `delete${r.Name}`, summary: `Delete an ${r.one}`.replace(/an ([^aeiou])/, 'a $1'),
      description: {
        songs: 'Its audio goes with it. A 409 naming the playlists that ' +
          'hold it: nothing cascades.',
        playlists: 'Its entries go with it; the songs stay.',
      }[r.name] || `A 409 while it still has ${r.name === 'artists' ? 'albums or songs' : 'songs'}: nothing cascades.`,
      tags, security: writeSecurity, parameters: writeParams,
      responses: {
        204: { description: 'Deleted.' },
        ...std([400, 401, 403, 404, ...(r.name === 'playlists' ? [] : [409]),
                412, 429, 500, 503, 504]),
      },
    },
  };

  for (const [rel, childName] of Object.entries(r.relations)) {
    const child = byName[childName];
    const filters = { ...child.filters };
    const ordered = r.name === 'albums'
      ? 'Ordered by track number (unnumbered last), then id.' : listOrder;
    const nested = readPair(`list${r.Name}${child.Name}s`,
      `List an ${r.one}'s ${rel}`.replace(/an ([^aeiou])/, 'a $1'),
      `${ordered} A 404 when the ${r.one} does not exist; an empty list ` +
      'when it has none.',
      [ref('parameters', 'id')].concat(listParams({ filters })),
      listOk(child, r.name === 'artists' && rel === 'albums' ? {
        albums: [byName.albums.example], meta: {
          total: 3, limit: 1, offset: null,
          next: '/api/v1/artists/4/albums?limit=1&after=11',
          previous: '/api/v1/artists/4/albums?limit=1&before=11' } } : undefined),
      [400, 401, 403, 404, 503, 504], readSecurity, tags);
    paths[`/${r.name}/{id}/${rel}`] = nested;
  }
}

// a playlist's songs: an ordered list of entries, written through the
// playlist (its If-Match and ETag), as Spotify's playlist items
{
  const r = byName.playlists;
  const tags = ['Playlists'];
  const entry = {
    name: 'entry_id', in: 'path', required: true,
    description: 'The entry\'s id (a 400 if not a non-negative integer).',
    schema: id, example: 12,
  };
  const list = readPair('listPlaylistSongs', 'List a playlist\'s songs',
    'Its entries in position order, each with its `entry_id`, `position` ' +
    'and song. Paged by `offset`, or `after`/`before` an entry (an ' +
    '`entry_id`). A 404 when the playlist does not exist.',
    [ref('parameters', 'id'), ref('parameters', 'limit'),
     ref('parameters', 'offset'),
     { ...parameters.after, description: 'The entries after this entry ' +
       '(an `entry_id` of this playlist: otherwise a 400).' },
     { ...parameters.before, description: 'The entries just before this ' +
       'entry.' },
     ref('parameters', 'If-None-Match')],
    {
      description: 'A page of the playlist\'s entries.',
      headers: okHeaders,
      content: jsonContent(ref('schemas', 'PlaylistEntryList'), {
        page: { value: { songs: [{ entry_id: 12, position: 0,
                                   song: byName.songs.example }],
                         meta: { total: 50, limit: 1, offset: 0,
                                 next: '/api/v1/playlists/1/songs?limit=1&after=12',
                                 previous: null } } } }),
    },
    [400, 401, 403, 404, 503, 504], readSecurity, tags);
  const written = (code, description) => ({
    [code]: itemOk(r, description),
  });
  const problems = [400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 500,
                    503, 504];
  const writeParams = [ref('parameters', 'id'), ref('parameters', 'If-Match')];
  const idRef = { ...id, minimum: 1 };
  const position = { type: 'integer', minimum: 0, maximum: 2147483647 };
  const bodyOf = (schema, example) => ({
    required: true,
    content: jsonContent({ type: 'object', additionalProperties: false,
                           ...schema }, { body: { value: example } }),
  });
  paths['/playlists/{id}/songs'] = {
    ...list,
    put: {
      operationId: 'replacePlaylistSongs',
      summary: 'Replace a playlist\'s songs',
      description: 'The whole list, in order (a song may be there more ' +
        'than once; at most 10000). Unknown songs are a 422 naming them; ' +
        'nothing is written then. The answer is the playlist, with its ' +
        'new `revision` and ETag.',
      tags, security: writeSecurity, parameters: writeParams,
      requestBody: bodyOf({
        required: ['song_ids'],
        properties: { song_ids: { type: 'array', maxItems: 10000,
                                  items: idRef } },
      }, { song_ids: [109, 110, 109] }),
      responses: { ...written(200, 'The playlist as it is now.'),
                   ...std(problems) },
    },
    post: {
      operationId: 'insertPlaylistSong',
      summary: 'Add a song to a playlist',
      description: 'One entry at `position` (from 0; at the end when ' +
        'left out or `null`); the entries from there on move down one. ' +
        'A position past the end is a 409 (the playlist changed since ' +
        'it was read); an unknown song a 422.',
      tags, security: writeSecurity, parameters: writeParams,
      requestBody: bodyOf({
        required: ['song_id'],
        properties: { song_id: idRef, position: nullable(position) },
      }, { song_id: 109, position: 0 }),
      responses: { ...written(201, 'Added: the playlist as it is now.'),
                   ...std(problems) },
    },
  };
  paths['/playlists/{id}/songs/{entry_id}'] = {
    patch: {
      operationId: 'movePlaylistSong', summary: 'Move a playlist\'s entry',
      description: 'The entry goes to `position`; those between move one ' +
        'up or down, no other entry is rewritten. A 409 when the entry ' +
        'is not (or no longer) in the playlist, or the position is past ' +
        'the last.',
      tags, security: writeSecurity,
      parameters: [ref('parameters', 'id'), entry, ref('parameters', 'If-Match')],
      requestBody: bodyOf({ required: ['position'],
                            properties: { position } }, { position: 3 }),
      responses: { ...written(200, 'The playlist as it is now.'),
                   ...std(problems) },
    },
    delete: {
      operationId: 'removePlaylistSong', summary: 'Remove a playlist\'s entry',
      description: 'The entries after it move up one. A 409 when it is ' +
        'not (or no longer) in the playlist.',
      tags, security: writeSecurity,
      parameters: [ref('parameters', 'id'), entry, ref('parameters', 'If-Match')],
      responses: { ...written(200, 'The playlist as it is now.'),
                   ...std([400, 401, 403, 404, 409, 412, 429, 500, 503, 504]) },
    },
  };
}

paths['/search'] = readPair('search', 'Search artists, albums, songs and playlists',
  'Prefix search as the user types: the last word of `q` is also a prefix ' +
  'once it has 3 letters (unless `q` ends in a space or punctuation); one ' +
  'or two letters match the start of a whole name; names holding every ' +
  'word; typos by trigram similarity. Case and accents are ignored.',
  [
    { name: 'q', in: 'query', required: true,
      description: 'What to look for: at most 200 bytes, not empty.',
      schema: { type: 'string', minLength: 1, maxLength: 200 },
      example: 'jay' },
    { name: 'type', in: 'query',
      description: 'A comma-separated list of `artist`, `album`, `song`, ' +
        '`playlist` (all of them by default).',
      schema: { type: 'string', pattern: '^(artist|album|song|playlist)(,(artist|album|song|playlist))*$' },
      example: 'artist,song' },
    { name: 'limit', in: 'query', description: 'At most this many of each type.',
      schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
    ref('parameters', 'If-None-Match'),
  ],
  {
    description: 'The matches, by type.',
    headers: okHeaders,
    content: jsonContent(ref('schemas', 'SearchResult'), {
      jay: { value: { artists: [byName.artists.example] } } }),
  },
  [400, 401, 403, 503, 504], readSecurity, ['Search']);

const health = readPair('health', 'Is this node well',
  'Never needs a key. 200 while Postgres answers (whatever Redis does); ' +
  '503 without Postgres.', [],
  {
    description: 'Postgres answers.',
    headers: { ETag: ref('headers', 'ETag') },
    content: jsonContent(ref('schemas', 'Health'), {
      ok: { value: { status: 'ok', postgres: 'ok', redis: 'ok' } } }),
  }, [], [], ['Health']);
for (const op of [health.get, health.head]) {
  op.responses[503] = {
    description: 'Postgres cannot be reached.',
    headers: { 'Retry-After': ref('headers', 'Retry-After') },
    ...(op === health.get ? { content: jsonContent(ref('schemas', 'Health'), {
      down: { value: { status: 'unavailable', postgres: 'down', redis: 'ok' } } }) } : {}),
  };
  delete op.parameters;
}
paths['/health'] = health;

// the audio routes
const audioTypes = {};
for (const t of ['audio/*']) {
  audioTypes[t] = { schema: { type: 'string', format: 'binary' } };
}
const streamParams = [
  ref('parameters', 'id'),
  { name: 'expires', in: 'query',
    description: 'When the link ends, in seconds since the epoch.',
    schema: { type: 'integer', format: 'int64' } },
  { name: 'key', in: 'query',
    description: 'The audio file\'s name, when the link was made for one.',
    schema: { type: 'string' } },
  { name: 'signature', in: 'query',
    description: 'HMAC-SHA256 (base64url) of the id, `expires` and `key` ' +
      'with `tunesheap_media_secret`.',
    schema: { type: 'string' } },
  { name: 'Range', in: 'header',
    description: 'One range of bytes (`bytes=first-last`).',
    schema: { type: 'string' }, example: 'bytes=0-65535' },
  { name: 'If-Range', in: 'header', schema: { type: 'string' } },
  ref('parameters', 'If-None-Match'),
];
const fileHeaders = {
  ETag: ref('headers', 'ETag'),
  'Accept-Ranges': ref('headers', 'Accept-Ranges'),
  'Cache-Control': ref('headers', 'Cache-Control'),
};
const streamGet = {
  operationId: 'streamSong', summary: 'Play a song\'s audio',
  description: 'A song\'s `stream_url`. With the signed arguments: the file, ' +
    'from nginx\'s static path (sendfile, one `Range` a request, ' +
    '`If-Range`, `ETag`, `Last-Modified`), without asking Postgres; ' +
    'a tampered or expired link is a 403, without a key even under ' +
    '`tunesheap_auth_read`. Without arguments: a 302 to a freshly signed ' +
    'link (with S3: a CloudFront signed URL or an S3 presigned GET).',
  tags: ['Audio'], parameters: streamParams, security: readSecurity,
  responses: {
    200: { description: 'The whole file; its type is what its bytes said.',
           headers: fileHeaders, content: audioTypes },
    206: { description: 'The range asked for.',
           headers: { ...fileHeaders,
                      'Content-Range': ref('headers', 'Content-Range') },
           content: audioTypes },
    302: { description: 'To a freshly signed link (no arguments given).',
           headers: { Location: { required: true, schema: { type: 'string' } },
                      'Cache-Control': { schema: { type: 'string', const: 'no-store' } } },
           content: jsonContent(ref('schemas', 'StreamLink')) },
    304: ref('responses', 'NotModified'),
    ...std([400, 401, 403]),
    404: { description: 'No such song, the song has no audio, or it is not ' +
             'kept by this storage.',
           content: jsonContent(ref('schemas', 'Error'), {
             noAudio: { value: { error: { status: 404,
                                          message: 'song 2 has no audio' } } } }) },
    416: { description: errorText[416],
           headers: { 'Content-Range': ref('headers', 'Content-Range'),
                      'Cache-Control': ref('headers', 'Cache-Control') },
           content: jsonContent(ref('schemas', 'Error'), {
             range: { value: { error: { status: 416,
                                        message: errorExamples[416] } } } }) },
    ...std([429, 500, 503]),
  },
};
const streamHead = {
  operationId: 'streamSongHead', summary: 'A song\'s audio, headers only',
  tags: ['Audio'], parameters: streamParams, security: readSecurity,
  responses: {},
};
for (const [code, r] of Object.entries(streamGet.responses)) {
  streamHead.responses[code] = r.$ref ? (code === '304' ? r
    : { description: errorText[code] + ' No body.',
        ...(code === '429' || code === '503' ? { headers: {
          'Retry-After': ref('headers', 'Retry-After') } } : {}),
        ...(code === '401' ? { headers: {
          'WWW-Authenticate': ref('headers', 'WWW-Authenticate') } } : {}) })
    : { description: r.description, ...(r.headers ? { headers: r.headers } : {}) };
}
paths['/songs/{id}/stream'] = { get: streamGet, head: streamHead };

const audioAnswer = {
  description: 'The song\'s audio now.',
  headers: { ETag: ref('headers', 'ETag') },
  content: jsonContent(ref('schemas', 'AudioAnswer'), {
    audio: { value: { audio: schemas.Audio.example } } }),
};
paths['/songs/{id}/audio'] = {
  put: {
    operationId: 'putSongAudio', summary: 'Upload a song\'s audio (local storage)',
    description: 'The file itself as the body (any `Content-Type`), ' +
      'recognised from its bytes: MP3, Ogg Vorbis or Opus, FLAC, M4A/AAC. ' +
      'A 409 when audio is kept in S3. With `If-Match`, recorded only if ' +
      'the song\'s ETag is still one of those listed.',
    tags: ['Audio'], security: writeSecurity,
    parameters: [ref('parameters', 'id'), ref('parameters', 'If-Match')],
    requestBody: { required: true,
                   content: { 'application/octet-stream': {
                     schema: { type: 'string', format: 'binary' } } } },
    responses: {
      200: audioAnswer,
      ...std([400, 401, 403, 404, 409, 412, 413, 415]),
      422: { description: 'An MP3 cut short: its first frame counts more ' +
               'bytes (or frames) than the file holds.',
             content: jsonContent(ref('schemas', 'Error')) },
      ...std([429, 500, 503, 504]),
    },
  },
  delete: {
    operationId: 'deleteSongAudio', summary: 'Remove a song\'s audio',
    tags: ['Audio'], security: writeSecurity,
    parameters: [ref('parameters', 'id'), ref('parameters', 'If-Match')],
    responses: {
      204: { description: 'Removed.', headers: { ETag: ref('headers', 'ETag') } },
      ...std([400, 401, 403, 404, 409, 412, 429, 500, 503, 504]),
    },
  },
};
paths['/songs/{id}/upload'] = {
  post: {
    operationId: 'startSongUpload', summary: 'A URL to upload a song\'s audio to S3',
    description: 'A presigned PUT for a key made for this song, valid for ' +
      '`tunesheap_media_link_ttl`. A 409 with local storage.',
    tags: ['Audio'], security: writeSecurity, parameters: [ref('parameters', 'id')],
    requestBody: { required: true, content: jsonContent(ref('schemas', 'UploadRequest'), {
      mp3: { value: { content_type: 'audio/mpeg', size: 2862208 } } }) },
    responses: {
      200: { description: 'Where to PUT the file, and how.',
             headers: { ETag: ref('headers', 'ETag') },
             content: jsonContent(ref('schemas', 'Upload')) },
      ...std([400, 401, 403, 404, 409, 413, 415]),
      422: { description: 'A `content_type` not taken, or no `size` ' +
               '(1 to `tunesheap_media_max_size`).',
             content: jsonContent(ref('schemas', 'Error')) },
      ...std([429, 500, 503, 504]),
    },
  },
};
paths['/songs/{id}/upload/complete'] = {
  post: {
    operationId: 'completeSongUpload', summary: 'Record audio uploaded to S3',
    description: 'The object is read back (its first bytes, and what else ' +
      'the audio\'s headers need, by ranged GETs) and recorded as its ' +
      'bytes say: type, size, duration and bit rate.',
    tags: ['Audio'], security: writeSecurity, parameters: [ref('parameters', 'id')],
    requestBody: { required: true, content: jsonContent(ref('schemas', 'UploadComplete'), {
      done: { value: { key: 'songs/109-47c0483de52745ee.mp3', size: 2862208 } } }) },
    responses: {
      200: audioAnswer,
      ...std([400, 401, 403, 404, 409, 413, 415]),
      422: { description: 'A key `upload` did not give, a value that is ' +
               'not valid; or the object, read back from S3, is not ' +
               'there, is not `size` bytes long, is not audio in a ' +
               'format taken, is cut short, or is another type than ' +
               'its upload said. Nothing is recorded.',
             content: jsonContent(ref('schemas', 'Error')) },
      ...std([429, 500]),
      502: { description: 'S3 could not be asked about the object, or ' +
               'refused to show it (logged): try again.',
             content: jsonContent(ref('schemas', 'Error')) },
      ...std([503, 504]),
    },
  },
};

paths['/openapi.json'] = {
  get: {
    operationId: 'openapi', summary: 'This document',
    tags: ['Health'], security: [],
    responses: {
      200: { description: 'The OpenAPI document (a static file).',
             content: { 'application/json': { schema: { type: 'object' } } } },
      304: ref('responses', 'NotModified'),
      404: { description: 'Not installed with this server.' },
    },
  },
};

// writes take an Idempotency-Key (src/ts_idempotency.c): a 409 while the
// key's first request runs, a 422 when it was used for another request,
// and the first answer again, marked, on a retry
for (const r of resources) {
  const writes = [[`/${r.name}`, 'post'], [`/${r.name}/{id}`, 'put'],
                  [`/${r.name}/{id}`, 'patch'], [`/${r.name}/{id}`, 'delete']];
  if (r.name === 'playlists') {
    writes.push(['/playlists/{id}/songs', 'put'],
                ['/playlists/{id}/songs', 'post'],
                ['/playlists/{id}/songs/{entry_id}', 'patch'],
                ['/playlists/{id}/songs/{entry_id}', 'delete']);
  }
  for (const [tpl, method] of writes) {
    const op = paths[tpl][method];
    op.parameters = (op.parameters || []).concat(
      ref('parameters', 'Idempotency-Key'));
    Object.assign(op.responses, std([409, 422].filter((c) => !op.responses[c])));
    for (const code of ['200', '201', '204']) {
      const res = op.responses[code];
      if (!res) continue;
      res.headers = { ...(res.headers || {}),
                      'Idempotent-Replayed': ref('headers', 'Idempotent-Replayed') };
    }
  }
}

// nginx's own errors, which any request can meet before the module sees it
// (tunesheap-server.conf makes them the same JSON error): a request nginx
// cannot parse (400), a URI too long (414), an unknown transfer coding (501)
for (const item of Object.values(paths)) {
  for (const [method, op] of Object.entries(item)) {
    for (const code of [400, 414, 501]) {
      if (op.responses[code]) continue;
      op.responses[code] = method !== 'head' ? ref('responses', `Error${code}`)
        : { description: errorText[code] + ' No body.' };
    }
    op.responses = Object.fromEntries(Object.entries(op.responses)
      .sort(([a], [b]) => a - b));
  }
}

// what every answer of the API's server carries besides (src/ts_headers.c):
// nosniff, and who may keep it; the stream's file answers keep their own
// Cache-Control.  Not required: tunesheap_headers and
// tunesheap_cache_control can turn them off.
function addServerHeaders(res, kind) {
  res.headers = res.headers || {};
  if (!res.headers['Cache-Control']) {
    res.headers['Cache-Control'] = ref('headers', kind);
  }
  res.headers['X-Content-Type-Options'] = ref('headers', 'X-Content-Type-Options');
}
for (const [tpl, item] of Object.entries(paths)) {
  if (tpl === '/openapi.json') continue;
  for (const [method, op] of Object.entries(item)) {
    const read = method === 'get' || method === 'head';
    for (const [code, res] of Object.entries(op.responses)) {
      if (res.$ref) continue;    // components, below
      addServerHeaders(res, !read ? 'Cache-Control-Write'
        : code === '200' ? 'Cache-Control-Read' : 'Cache-Control-Error');
    }
  }
}
for (const [name, res] of Object.entries(responses)) {
  addServerHeaders(res, name === 'NotModified' ? 'Cache-Control-NotModified'
    : 'Cache-Control-Error');
}

// ---------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------

const doc = {
  openapi: '3.1.0',
  info: {
    title: 'Tunesheap',
    version: '1.0.0',
    summary: 'The music catalog\'s REST API, served from inside nginx.',
    description: 'Artists, their albums and songs, editorial playlists, ' +
      'search as you type, and songs\' audio. Every answer is JSON (`application/json; ' +
      'charset=utf-8`) ending with a newline, except audio. Errors are ' +
      '`{"error":{"status":N,"message":"..."}}` (`Error`). Reads are public ' +
      'unless the server says `tunesheap_auth_read on`; writes need an API ' +
      'key with the `write` scope (`Authorization: Bearer tsk_...`). ' +
      'Lists are paged by `limit` and one of `offset`, `after`, `before`; ' +
      '`meta.next` and `meta.previous` link the neighbouring pages. ' +
      'A method a path does not take is a 405 whose `Allow` header lists ' +
      'those it does (TRACE, which nginx refuses before any route, is a ' +
      '405 without `Allow`); an unknown path is a 404. nginx\'s own ' +
      'errors (a request it cannot parse, a URI too long, an unknown ' +
      'transfer coding, a range past the end, over a per-client limit) ' +
      'are the same JSON error under the shipped configuration ' +
      '(`conf/tunesheap-server.conf`). ' +
      'Every answer carries `X-Content-Type-Options: nosniff` and says who ' +
      'may keep it (`Cache-Control`): public reads briefly, by browsers ' +
      'and shared caches (CloudFront), revalidated by `ETag`; answers to ' +
      'requests with a key and to writes never by a shared cache. JSON of ' +
      '1 KB and more is gzipped for clients that send `Accept-Encoding: ' +
      'gzip` (`Vary: Accept-Encoding`; the `ETag` becomes weak). CORS is ' +
      'off unless the server lists origins (`tunesheap_cors`): then an ' +
      'answer to a listed `Origin` carries `Access-Control-Allow-Origin`, ' +
      'every answer `Vary: Origin`, and a preflight (`OPTIONS` with ' +
      '`Access-Control-Request-Method`) of a listed origin is a 204 with ' +
      '`Access-Control-Allow-Methods`, `-Headers` and `-Max-Age`; any other ' +
      '`OPTIONS` is a 405.',
    license: { name: 'Proprietary', identifier: 'LicenseRef-Tunesheap' },
  },
  servers: [{ url: '/api/v1', description: 'This server' }],
  security: readSecurity,
  tags: [
    { name: 'Artists', description: 'Artists, their albums and songs.' },
    { name: 'Albums', description: 'Albums and their songs.' },
    { name: 'Songs', description: 'Songs.' },
    { name: 'Playlists', description: 'Editorial playlists: ordered lists ' +
      'of songs, written whole or an entry at a time.' },
    { name: 'Search', description: 'Search as you type.' },
    { name: 'Audio', description: 'Playing and uploading songs\' audio.' },
    { name: 'Health', description: 'For load balancers, and this document.' },
  ],
  paths,
  components: {
    securitySchemes: {
      apiKey: {
        type: 'http', scheme: 'bearer', bearerFormat: 'tsk_ and 64 hex digits',
        description: 'An API key (`make apikey NAME=... SCOPES=read,write`). ' +
          'Its scopes are `read` (reads, when the server asks for a key) ' +
          'and `write` (every write). A missing or unknown key is a 401 ' +
          'with `WWW-Authenticate`; a key without the scope needed is a 403.',
      },
    },
    parameters, headers, responses, schemas,
  },
};

const out = JSON.stringify(doc, null, 2) + '\n';
const file = path.join(repo, 'www', 'openapi.json');

if (process.argv[2] === '--check') {
  const have = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (have !== out) {
    console.error(`${file} is not what ${__filename} makes: run it`);
    process.exit(1);
  }
} else {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(process.argv[2] || file, out);
}

#!/usr/bin/env node
// Checks the responses the suites received (recorded with TS_RECORD=DIR by
// the harness, t/lib/Test/Nginx/Socket.pm, and by the player's test)
// against www/openapi.json:
//
//   - every response to a documented route and method has a documented
//     status, content type, required headers, and a JSON body that
//     validates against its schema (ajv, JSON Schema 2020-12 as OpenAPI
//     3.1 uses);
//   - a documented route that answers "no resource at this path" (404)
//     fails, and so does a route the module serves but the document lacks
//     (anything but that 404), and a method it takes that is not
//     documented: a 405's Allow must list exactly the documented methods;
//   - with --coverage, every documented route and method must have been
//     exercised.
//
//   node t/tools/openapi-check.js [--coverage] DOC RECORD_DIR
//
// Needs ajv and ajv-formats (make node installs them in var/node).

'use strict';

const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const BASE = '/api/v1';
const UNKNOWN_ROUTE = 'no resource at this path';
const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'];

const args = process.argv.slice(2);
const coverage = args[0] === '--coverage' ? (args.shift(), true) : false;
const [docFile, recordDir] = args;
if (!docFile || !recordDir) {
  console.error('usage: openapi-check.js [--coverage] DOC RECORD_DIR');
  process.exit(2);
}

const doc = JSON.parse(fs.readFileSync(docFile, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi.json');

const pointer = (parts) =>
  'openapi.json#/' + parts.map((p) => String(p).replace(/~/g, '~0')
    .replace(/\//g, '~1')).join('/');
const validators = new Map();
function validator(parts) {
  const key = parts.join('\0');
  if (!validators.has(key)) {
    validators.set(key, ajv.compile({ $ref: pointer(parts) }));
  }
  return validators.get(key);
}

function resolve(obj) {
  while (obj && obj.$ref) {
    obj = obj.$ref.slice(2).split('/').reduce(
      (o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return obj;
}

// the document's routes, most specific (fewest parameters) first
const routes = Object.keys(doc.paths).map((tpl) => ({
  tpl,
  re: new RegExp('^' + tpl.replace(/[.]/g, '\\.')
    .replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  params: (tpl.match(/\{/g) || []).length,
  methods: METHODS.filter((m) => doc.paths[tpl][m]),
})).sort((a, b) => a.params - b.params);

// nginx's view of a request target: decoded, dots resolved, slashes merged
function normalize(target) {
  let p = (target || '').split('?')[0];
  try {
    p = decodeURIComponent(p);
  } catch (e) {
    return null;
  }
  const out = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/') + (p.endsWith('/') && out.length ? '/' : '');
}

const failures = [];
const exercised = new Set();      // route method
const statuses = new Set();       // route method status
let checked = 0;
let skipped = 0;
let unknown = 0;

function fail(rec, why) {
  failures.push(`${rec.method} ${rec.target} -> ${rec.status} ` +
    `(${rec.suite}${rec.block ? ': ' + rec.block : ''}): ` +
    String(why).replace(/\s+/g, ' '));
}

function errorMessage(rec) {
  try {
    return JSON.parse(rec.body).error.message;
  } catch (e) {
    return undefined;
  }
}

function checkJson(rec, parts) {
  let body;
  try {
    body = JSON.parse(rec.body);
  } catch (e) {
    return fail(rec, `body is not JSON: ${String(rec.body).slice(0, 80)}`);
  }
  const v = validator(parts);
  if (!v(body)) {
    fail(rec, 'body does not validate: ' + ajv.errorsText(v.errors,
      { separator: '; ' }) + ` in ${String(rec.body).slice(0, 200)}`);
  }
}

function checkOne(rec) {
  const p = normalize(rec.target);
  if (p === null || !(p === BASE || p.startsWith(BASE + '/'))) {
    skipped++;
    return;
  }
  checked++;

  // the router ignores one trailing slash
  let rel = p.slice(BASE.length).replace(/(.)\/$/, '$1');
  const route = routes.find((r) => r.re.test(rel));
  const method = String(rec.method).toLowerCase();
  const status = String(rec.status);
  const ctype = String(rec.headers['content-type'] || '').split(';')[0]
    .trim().toLowerCase();

  if (!route) {
    unknown++;
    if (status !== '404' || errorMessage(rec) !== UNKNOWN_ROUTE) {
      fail(rec, `${rel}: a route the document lacks answers ${status}`);
    } else if (method !== 'head') {
      checkJson(rec, ['components', 'schemas', 'Error']);
    }
    return;
  }

  const op = doc.paths[route.tpl][method];
  if (!op && method === 'trace') {
    // nginx refuses TRACE for every path before any location runs: a 405
    // (the JSON error, tunesheap-server.conf) that cannot know the route's
    // methods, so without Allow (the document's description says so)
    if (status !== '405') {
      fail(rec, `${route.tpl}: TRACE answered ${status}, not 405`);
    } else {
      checkJson(rec, ['components', 'schemas', 'Error']);
    }
    return;
  }
  if (!op && method === 'options' && status === '204'
      && rec.headers['access-control-allow-origin']) {
    // a CORS preflight of an allowed origin (tunesheap_cors), answered
    // before the API (the document's description says so)
    return;
  }
  if (!op) {
    const allow = String(rec.headers.allow || '').split(/,\s*/).sort().join(',');
    const want = route.methods.map((m) => m.toUpperCase()).sort().join(',');
    if (status !== '405') {
      fail(rec, `${route.tpl}: ${rec.method} is not documented, answered ${status}`);
    } else if (allow !== want) {
      fail(rec, `${route.tpl}: Allow is "${rec.headers.allow}", ` +
        `the document has ${want}`);
    }
    return;
  }

  const key = `${route.tpl} ${method}`;
  const res = op.responses[status] || op.responses.default;
  if (!res) {
    fail(rec, `${key}: status ${status} is not documented`);
    return;
  }
  if (status === '404' && errorMessage(rec) === UNKNOWN_ROUTE) {
    fail(rec, `${key}: a documented route answers "${UNKNOWN_ROUTE}"`);
    return;
  }
  exercised.add(key);
  statuses.add(`${key} ${status}`);

  const resolved = resolve(res);
  const where = op.responses[status] ? status : 'default';
  const parts = res.$ref ? res.$ref.slice(2).split('/')
    : ['paths', route.tpl, method, 'responses', where];

  for (const [name, h] of Object.entries(resolved.headers || {})) {
    const hd = resolve(h);
    const value = rec.headers[name.toLowerCase()];
    if (value === undefined) {
      if (hd.required) fail(rec, `${key}: header ${name} is missing`);
      continue;
    }
    const hparts = h.$ref ? h.$ref.slice(2).split('/').concat('schema')
      : parts.concat('headers', name, 'schema');
    const v = validator(hparts);
    if (!v(value)) {
      fail(rec, `${key}: header ${name}: "${value}" ` + ajv.errorsText(v.errors));
    }
  }

  const content = resolved.content;
  if (!content || method === 'head') {
    if (rec.length > 0) fail(rec, `${key}: a body where none is documented`);
    return;
  }
  const type = Object.keys(content).find((t) => t === ctype
    || (t.endsWith('/*') && ctype.startsWith(t.slice(0, -1))));
  if (!type) {
    fail(rec, `${key}: Content-Type "${ctype}" is not documented ` +
      `(${Object.keys(content).join(', ')})`);
    return;
  }
  if (type === 'application/json' && !/charset=utf-8/i.test(rec.headers['content-type'])
      && route.tpl !== '/openapi.json') {
    fail(rec, `${key}: JSON without charset=utf-8`);
  }
  // a gzipped body (Accept-Encoding: gzip) is not text: its headers are
  // checked, its JSON is the plain answer's
  if (type === 'application/json' && rec.body !== null
      && rec.headers['content-encoding'] !== 'gzip') {
    checkJson(rec, parts.concat('content', type, 'schema'));
  }
}

let files = [];
try {
  files = fs.readdirSync(recordDir).filter((f) => f.endsWith('.jsonl'));
} catch (e) {
  console.error(`${recordDir}: ${e.message}`);
  process.exit(1);
}
let total = 0;
for (const f of files) {
  for (const line of fs.readFileSync(path.join(recordDir, f), 'utf8')
    .split('\n')) {
    if (!line) continue;
    total++;
    checkOne(JSON.parse(line));
  }
}

// coverage
const documented = [];
let documentedStatuses = 0;
for (const r of routes) {
  for (const m of r.methods) {
    documented.push(`${r.tpl} ${m}`);
    documentedStatuses += Object.keys(doc.paths[r.tpl][m].responses).length;
  }
}
const missing = documented.filter((k) => !exercised.has(k));
if (coverage) {
  for (const k of missing) {
    failures.push(`${k}: documented, never exercised by the suites`);
  }
}

console.log(`responses recorded: ${total}; API responses checked: ${checked} ` +
  `(${unknown} to unknown routes), others skipped: ${skipped}`);
console.log(`routes and methods exercised: ${exercised.size} of ` +
  `${documented.length}; route, method and status combinations seen: ` +
  `${statuses.size} of ${documentedStatuses} documented`);
if (missing.length) console.log('not exercised: ' + missing.join(', '));
if (process.env.TS_CHECK_VERBOSE) {
  console.log([...statuses].sort().join('\n'));
}
for (const f of failures.slice(0, 50)) console.log('FAIL ' + f);
if (failures.length > 50) console.log(`... and ${failures.length - 50} more`);
console.log(failures.length ? `${failures.length} failures` : 'all valid');
process.exit(failures.length ? 1 : 0);

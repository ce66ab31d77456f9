// validate_responses.mjs - checks answers recorded by the HTTP test
// suites (tests/http/harness.py with BOXOFFICE_RESPONSE_LOG=FILE, JSON lines of
// {method, path, status, headers, body}) against web/openapi.json with ajv.
//
// usage: node tests/spec/validate_responses.mjs FILE...
//
// Each answer must be one the spec describes: its path and method an
// operation (HEAD answered as GET, without a body), its status one of the
// operation's responses, its required headers present and valid, its
// Content-Type one of the response's media types and its JSON body valid
// against the response's schema. Answers on a path the spec does not have
// must be 404 NOT_FOUND (or a protocol error), and a method a documented
// path does not take 405 METHOD_NOT_ALLOWED with Allow; both are JSON that
// validates against the spec's Error schema, with X-Request-Id. One test
// line per operation and status, then how many answers were checked; the
// last line is "N passed, N failed".
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'web', 'package.json'));
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats');

const SPEC_ID = 'openapi.json';
const spec = JSON.parse(readFileSync(join(root, 'web', 'openapi.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: false });
addFormats(ajv);
ajv.addFormat('int64', { type: 'number', validate: Number.isSafeInteger });
ajv.addSchema(spec, SPEC_ID);

// Errors that the HTTP layer may answer on any path before routing.
const PROTOCOL_STATUSES = new Set([400, 413, 429, 503]);
const MAX_REPORTED = 5;

const pointer = (parts) => '#/' + parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const validators = new Map();
function validator(ptr) {
  if (!validators.has(ptr)) {
    const v = ajv.getSchema(SPEC_ID + ptr);
    if (!v) throw new Error('no schema at ' + ptr);
    validators.set(ptr, v);
  }
  return validators.get(ptr);
}

// Follows a $ref to a component; returns [object, its JSON pointer parts].
function deref(obj, parts) {
  while (obj && obj.$ref) {
    parts = obj.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    obj = parts.reduce((o, k) => o[k], spec);
  }
  return [obj, parts];
}

// Templates first by fewer parameters, so /api/shows/active beats {showId}.
const templates = Object.keys(spec.paths).map((t) => ({
  template: t,
  params: (t.match(/\{/g) || []).length,
  re: new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
})).sort((a, b) => a.params - b.params);

function findTemplate(path) {
  const t = templates.find((x) => x.re.test(path));
  return t ? t.template : null;
}

const errorPtr = pointer(['components', 'schemas', 'Error']);

function schemaErrors(ptr, value) {
  const v = validator(ptr);
  if (v(value)) return [];
  return v.errors.map((e) => `${e.instancePath || '(body)'} ${e.message}`);
}

function parseJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false };
  }
}

// An error answer that no operation of the spec lists (an unknown path, a
// method the path does not take, a protocol error): the spec's info says
// that every answer carries X-Request-Id and every error the Error body,
// as JSON.
const requestIdPtr = pointer(['components', 'headers', 'X-Request-Id', 'schema']);
function checkError(rec, code) {
  const problems = [];
  const id = rec.headers['x-request-id'];
  if (id === undefined) problems.push('required header X-Request-Id is missing');
  else problems.push(...schemaErrors(requestIdPtr, id).map((e) => `header X-Request-Id: ${e}`));
  const ctype = (rec.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (ctype !== 'application/json') problems.push(`Content-Type ${ctype || '(none)'} is not application/json`);
  const j = parseJson(rec.body);
  if (!j.ok) return [...problems, 'body is not JSON'];
  problems.push(...schemaErrors(errorPtr, j.value));
  if (code && j.value.error && j.value.error.code !== code) problems.push(`error code ${j.value.error.code}, expected ${code}`);
  return problems;
}

// True when the path is one of the admin API's (its operations need the
// bearer token) and may answer 404 NOT_FOUND: without a configured token
// the admin API is off, for every method.
function mayBeAbsent(item) {
  return Object.entries(item).some(([m, op]) => {
    if (m === 'parameters' || !op.security || op.security.length === 0 || !op.responses['404']) return false;
    const [resp] = deref(op.responses['404'], ['paths']);
    const schema = ((resp.content || {})['application/json'] || {}).schema || {};
    const codes = ((((schema.properties || {}).error || {}).properties || {}).code || {}).enum || [];
    return codes.includes('NOT_FOUND');
  });
}

// Returns [group name, problems] for one recorded answer.
function check(rec) {
  const path = rec.path.split('?')[0];
  const template = findTemplate(path);
  if (!template) {
    const key = `${rec.method} (undocumented path) ${rec.status}`;
    if (rec.status === 404) return [key, checkError(rec, 'NOT_FOUND')];
    if (PROTOCOL_STATUSES.has(rec.status)) return [key, checkError(rec)];
    return [key, [`${rec.method} ${path} answered ${rec.status} on a path the spec does not describe`]];
  }
  const item = spec.paths[template];
  const method = rec.method.toLowerCase() === 'head' ? 'get' : rec.method.toLowerCase();
  const key = `${rec.method} ${template} ${rec.status}`;
  if (!item[method]) {
    if (rec.status === 404 && mayBeAbsent(item)) {
      return [`${rec.method} ${template} 404 (the path is off)`, checkError(rec, 'NOT_FOUND')];
    }
    if (rec.status === 405) {
      const problems = checkError(rec, 'METHOD_NOT_ALLOWED');
      if (!rec.headers.allow) problems.push('405 without an Allow header');
      return [`${rec.method} ${template} 405 (not documented for this path)`, problems];
    }
    if (PROTOCOL_STATUSES.has(rec.status)) return [key + ' (method not documented)', checkError(rec)];
    return [key, [`${rec.method} is not documented for ${template}, yet it answered ${rec.status}`]];
  }
  const opParts = ['paths', template, method];
  const op = item[method];
  const status = String(rec.status);
  if (!op.responses[status]) {
    return [key, [`status ${status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`]];
  }
  const [resp, respParts] = deref(op.responses[status], [...opParts, 'responses', status]);
  const problems = [];
  for (const [name, h0] of Object.entries(resp.headers || {})) {
    const [h, hParts] = deref(h0, [...respParts, 'headers', name]);
    const value = rec.headers[name.toLowerCase()];
    if (value === undefined) {
      if (h.required) problems.push(`required header ${name} is missing`);
      continue;
    }
    problems.push(...schemaErrors(pointer([...hParts, 'schema']), value).map((e) => `header ${name}: ${e}`));
  }
  const ctype = (rec.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  const media = Object.keys(resp.content || {});
  if (rec.method === 'HEAD') {
    if (rec.body !== '') problems.push('HEAD answer has a body');
  } else if (media.length > 0 && !media.includes(ctype)) {
    problems.push(`Content-Type ${ctype || '(none)'} is not one of ${media.join(', ')}`);
  } else if (ctype === 'application/json') {
    const j = parseJson(rec.body);
    if (!j.ok) problems.push('body is not JSON');
    else problems.push(...schemaErrors(pointer([...respParts, 'content', 'application/json', 'schema']), j.value));
  } else if (ctype === 'text/event-stream') {
    problems.push(...checkEvents(rec.body, [...respParts, 'content', 'text/event-stream', 'schema', 'x-events']));
  }
  return [key, problems];
}

// A recorded stream (the part a test read): each event's data must match
// the schema the spec names for its event type under x-events.
function checkEvents(text, eventsParts) {
  const known = eventsParts.reduce((o, k) => o[k], spec);
  const problems = [];
  let n = 0;
  for (const block of text.split(/\r?\n\r?\n/)) {
    let name = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length === 0) continue; /* comments, retry: and id: alone */
    n++;
    if (!known[name]) {
      problems.push(`event "${name}" is not one the spec describes`);
      continue;
    }
    const j = parseJson(data.join('\n'));
    if (!j.ok) problems.push(`event ${name}: data is not JSON`);
    else problems.push(...schemaErrors(pointer([...eventsParts, name]), j.value).map((e) => `event ${name}: ${e}`));
  }
  if (n === 0) problems.push('a recorded event stream without events');
  return problems;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: validate_responses.mjs FILE...');
  process.exit(2);
}
const groups = new Map();
let total = 0;
for (const file of files) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    console.log(`FAIL - read ${file}: ${e.message}`);
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    const rec = JSON.parse(line);
    total++;
    const [key, problems] = check(rec);
    if (!groups.has(key)) groups.set(key, { n: 0, bad: [] });
    const g = groups.get(key);
    g.n++;
    if (problems.length) g.bad.push(`${rec.method} ${rec.path}: ${problems.join('; ')} (body ${rec.body.slice(0, 200)})`);
  }
}
let passed = 0, failed = 0;
for (const [key, g] of [...groups].sort()) {
  if (g.bad.length === 0) {
    passed++;
    console.log(`ok - ${key}: ${g.n} answers valid`);
  } else {
    failed++;
    console.log(`FAIL - ${key}: ${g.bad.length} of ${g.n} answers invalid\n    ${g.bad.slice(0, MAX_REPORTED).join('\n    ')}`);
  }
}
if (total === 0) {
  failed++;
  console.log('FAIL - no recorded answers: the HTTP suite recorded nothing');
}
console.log(`# ${total} answers checked against web/openapi.json`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

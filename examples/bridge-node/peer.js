#!/usr/bin/env node
// A git-proxy sink in plain JavaScript, in memory, served over sinkkit's bridge protocol:
// JSON-RPC 2.0, one JSON object per line, requests on stdin, responses on stdout, logs on
// stderr. No dependencies and no git-proxy code: it shows what a backend author implements.
// The rules follow sinkkit's memory adapter (the reference); docs/bridge.md is the protocol.
//
//   node examples/bridge-node/peer.js
'use strict';

const readline = require('node:readline');
const crypto = require('node:crypto');

// --- JSON that keeps numbers exact -----------------------------------------------------------
// JSON.parse would round 2**63 - 1 and forget that 2.0 was written as a float (Python, and so
// the reference, tell 2 from 2.0). Integers beyond Number's safe range become BigInt; floats
// with an integral value become PyFloat; both are written back as they came.

class PyFloat {
  constructor(value) { this.value = value; }
  valueOf() { return this.value; }
  toJSON() { return this.text(); }
  text() { const t = String(this.value); return /[e.]/.test(t) ? t : `${t}.0`; }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

function parseJson(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = () => { throw new SyntaxError(`bad JSON at ${i}`); };
  const string = () => {
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    const s = JSON.parse(text.slice(i, j + 1));
    i = j + 1;
    return s;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; const obj = {}; ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws(); if (text[i] !== '"') fail();
        const key = string(); ws(); if (text[i++] !== ':') fail();
        setOwn(obj, key, value()); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === '}') return obj;
        fail();
      }
    }
    if (c === '[') {
      i++; const arr = []; ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value()); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === ']') return arr;
        fail();
      }
    }
    if (c === '"') return string();
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      i += m[0].length;
      const n = Number(m[0]);
      if (m[1] === undefined && m[2] === undefined) return Number.isSafeInteger(n) ? n : BigInt(m[0]);
      return Number.isInteger(n) ? new PyFloat(n) : n;
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    return fail();
  };
  const out = value(); ws();
  if (i !== text.length) fail();
  return out;
}

function toJson(v) {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'bigint': return v.toString();
    case 'number': return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'string': case 'boolean': return JSON.stringify(v);
    default:
      if (v instanceof PyFloat) return v.text();
      if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
      return `{${Object.keys(v).filter((k) => v[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${toJson(v[k])}`).join(',')}}`;
  }
}

// keys such as "__proto__" must stay plain data
function setOwn(obj, key, value) {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return obj;
}
const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
const get = (obj, key) => (isObject(obj) && has(obj, key) ? obj[key] : undefined);
// a deep copy that keeps PyFloat (structuredClone would turn it into a plain object)
function clone(v) {
  if (v === null || typeof v !== 'object' || v instanceof PyFloat) return v;
  if (Array.isArray(v)) return v.map(clone);
  const out = {};
  for (const k of Object.keys(v)) setOwn(out, k, clone(v[k]));
  return out;
}

// --- typed errors (error.data.code is the kit's error code) ----------------------------------

class SinkError extends Error {
  constructor(code, message, data = {}) { super(message); this.code = code; this.data = data; }
}
const pyRepr = (v) => (typeof v === 'string' ? `'${v}'` : toJson(v));
const invalidDocument = (what, problem) =>
  new SinkError('invalid_document', `invalid ${what}: ${problem}`, { what, problem });
const invalidQuery = (key, problem = 'unsupported query key') =>
  new SinkError('invalid_query', `${problem}: ${pyRepr(key)}`, { key });
const notFound = (code, kind, key) =>
  new SinkError(code, `${kind} ${pyRepr(key)} not found`, { key });
const duplicate = (code, kind, field, value) =>
  new SinkError(code, `a ${kind} with ${field} ${pyRepr(value)} already exists`, { field, value });
const unavailable = (message) => new SinkError('unavailable', message);

// --- input rules (sinkkit.conformance.documents) ---------------------------------------------

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// Python's str.strip() whitespace
const PY_SPACE = /^[\s\x1c-\x1f\x85]*$/;

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat);
}
function typeName(v) {
  if (v === null || v === undefined) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyFloat) return 'float';
  return { string: 'str', boolean: 'bool', number: Number.isInteger(v) ? 'int' : 'float',
    bigint: 'int', object: 'dict' }[typeof v] || typeof v;
}
// Python truthiness, for the `x or []` idioms of the reference
function truthy(v) {
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof PyFloat) return v.value !== 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return Boolean(v) && v !== 0n;
}
const isNum = (v) => (typeof v === 'number' || typeof v === 'bigint' || v instanceof PyFloat);
const isScalar = (v) => v === null || v instanceof PyFloat
  || ['string', 'boolean', 'number', 'bigint'].includes(typeof v);
const plainNum = (v) => (v instanceof PyFloat ? v.value : v);
const lower = (s) => s.toLowerCase();

function checkText(what, value, required = true) {
  if (typeof value !== 'string') throw invalidDocument(what, `expected a string, got ${typeName(value)}`);
  if (value.includes('\0')) throw invalidDocument(what, 'contains a NUL character');
  if (LONE_SURROGATE.test(value)) throw invalidDocument(what, 'contains a lone surrogate (not valid UTF-8)');
  if (required && PY_SPACE.test(value)) throw invalidDocument(what, 'must not be blank');
  return value;
}

function checkJson(what, value, depth = 0) {
  if (depth > 100) throw invalidDocument(what, 'nested more than 100 levels deep');
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return;
  if (value instanceof PyFloat) return;
  if (typeof value === 'string') { checkText(what, value, false); return; }
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) throw invalidDocument(what, `integer ${value} is outside the 64-bit range`);
    return;
  }
  if (Array.isArray(value)) { for (const item of value) checkJson(what, item, depth + 1); return; }
  for (const key of Object.keys(value)) {
    checkText(`${what} key`, key, false);
    // neither NeDB nor MongoDB can store or query these as plain field names
    if (key.startsWith('$') || key.includes('.')) {
      throw invalidDocument(what, `key ${pyRepr(key)} starts with '$' or contains '.'`);
    }
    checkJson(`${what}.${key}`, value[key], depth + 1);
  }
}

function checkDocument(what, doc) {
  if (!isObject(doc)) throw invalidDocument(what, `expected an object, got ${typeName(doc)}`);
  checkJson(what, doc);
  return clone(doc);
}

// the longest value of an indexed field, in UTF-8 bytes (sinkkit.core.rules.MAX_KEY_BYTES)
const MAX_KEY_BYTES = 1024;
function checkKey(what, value, required = true) {
  checkText(what, value, required);
  if (value.length > MAX_KEY_BYTES / 4 && Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES) {
    throw invalidDocument(what, `is longer than ${MAX_KEY_BYTES} bytes (UTF-8), the limit for an indexed field`);
  }
  return value;
}

const checkId = (what, value) => checkKey(what, value);
const isPlainId = (v) => typeof v === 'string' && v.length > 0 && !v.includes('\0');
const fold = (what, v, required) => lower(checkKey(what, v, required));
const pyStrip = (s) => s.replace(/^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/g, '');

function checkPublicKey(record) {
  const rec = checkDocument('public key', record);
  checkText('public key.key', get(rec, 'key'));
  checkText('public key.fingerprint', get(rec, 'fingerprint'));
  return rec;
}

function publicKeyList(value) {
  if (!truthy(value)) return [];
  if (!Array.isArray(value)) {
    // the reference iterates whatever it is given; every item of a non-list is not an object
    throw invalidDocument('public key', `expected an object, got ${typeName(typeof value === 'string' ? value[0] : value)}`);
  }
  return value.map(checkPublicKey);
}

function checkUserTypes(doc) {
  for (const key of ['admin', 'mustChangePassword']) {
    if (has(doc, key) && typeof doc[key] !== 'boolean') throw invalidDocument(`user.${key}`, 'expected a boolean');
  }
  for (const key of ['password', 'oidcId', 'displayName', 'title']) {
    if (has(doc, key) && doc[key] !== null && typeof doc[key] !== 'string') {
      throw invalidDocument(`user.${key}`, 'expected a string or null');
    }
  }
  if (typeof doc.oidcId === 'string') checkKey('user.oidcId', doc.oidcId, false);
}

// git-proxy refuses a user without an email (its NeDB unique index refuses a second blank one)
function checkEmail(value) {
  if (value === null || value === undefined) {
    throw invalidDocument('user.email', 'is required (git-proxy refuses a user without one)');
  }
  return pyStrip(fold('user.email', value, true));
}

function normaliseNewUser(user) {
  const doc = checkDocument('user', user);
  doc.username = fold('user.username', get(doc, 'username'), true);
  doc.email = checkEmail(get(doc, 'email'));
  if (has(doc, 'gitAccount')) doc.gitAccount = fold('user.gitAccount', doc.gitAccount, true);
  if (has(doc, '_id')) doc._id = checkId('user._id', doc._id);
  doc.publicKeys = publicKeyList(get(doc, 'publicKeys'));
  checkUserTypes(doc);
  return doc;
}

function normaliseUserUpdate(user) {
  const doc = checkDocument('user', user);
  if (has(doc, 'username')) doc.username = fold('user.username', doc.username, true);
  if (has(doc, 'email')) doc.email = checkEmail(doc.email);
  if (has(doc, 'gitAccount')) doc.gitAccount = fold('user.gitAccount', doc.gitAccount, true);
  if (has(doc, '_id')) doc._id = checkId('user._id', doc._id);
  if (!has(doc, '_id') && !has(doc, 'username')) throw invalidDocument('user', 'update_user needs _id or username');
  if (has(doc, 'publicKeys')) doc.publicKeys = publicKeyList(doc.publicKeys);
  checkUserTypes(doc);
  return doc;
}

const normaliseUsername = (name) => fold('username', name, true);

function userList(role, value) {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw invalidDocument(`repo.users.${role}`, 'expected a list of usernames');
  const out = [];
  for (const name of value) {
    const folded = normaliseUsername(name);
    if (!out.includes(folded)) out.push(folded);
  }
  return out;
}

function normaliseNewRepo(repo) {
  const doc = checkDocument('repo', repo);
  doc.name = fold('repo.name', get(doc, 'name'), true);
  doc.url = checkKey('repo.url', get(doc, 'url'));
  doc.project = checkText('repo.project', has(doc, 'project') ? doc.project : '', false);
  if (has(doc, '_id')) doc._id = checkId('repo._id', doc._id);
  const users = truthy(get(doc, 'users')) ? doc.users : {};
  if (!isObject(users)) throw invalidDocument('repo.users', 'expected an object');
  doc.users = { canPush: userList('canPush', get(users, 'canPush')),
    canAuthorise: userList('canAuthorise', get(users, 'canAuthorise')) };
  delete doc.dateCreated;
  delete doc.lastModified;
  return doc;
}

function normaliseRepoChanges(changes) {
  const doc = checkDocument('repo changes', changes);
  for (const key of ['_id', 'users', 'dateCreated', 'lastModified']) {
    if (has(doc, key)) throw invalidDocument('repo changes', `'${key}' cannot be changed by update_repo`);
  }
  if (has(doc, 'name')) doc.name = fold('repo.name', doc.name, true);
  if (has(doc, 'url')) doc.url = checkKey('repo.url', doc.url);
  if (has(doc, 'project')) doc.project = checkText('repo.project', doc.project, false);
  return doc;
}

function checkPush(push) {
  const doc = checkDocument('push', push);
  checkId('push.id', get(doc, 'id'));
  if (has(doc, '_id') && doc._id !== doc.id) throw invalidDocument('push._id', 'must equal push.id when present');
  delete doc._id;
  // known fields keep the published push schema's types (core/schemas.py PUSH_SCHEMA)
  for (const [field, types] of Object.entries(PUSH_FIELD_TYPES)) {
    if (!has(doc, field)) continue;
    const v = doc[field];
    const kind = v === null ? 'null' : Array.isArray(v) ? 'array' : isNum(v) ? 'number' : typeof v;
    if (!types.includes(kind)) throw invalidDocument(`push.${field}`, `${kind} is not of type ${types.join(' or ')}`);
  }
  return doc;
}

const PUSH_FIELD_TYPES = {
  type: ['string'], method: ['string'], timestamp: ['number'], project: ['string'], repo: ['string'],
  repoName: ['string'], url: ['string'], branch: ['string'], commitFrom: ['string'], commitTo: ['string'],
  userEmail: ['string', 'null'], error: ['boolean'], blocked: ['boolean'], allowPush: ['boolean'],
  authorised: ['boolean'], canceled: ['boolean'], rejected: ['boolean'],
  blockedMessage: ['string', 'null'], commitData: ['array'],
};

function checkPayload(what, payload) { checkJson(what, payload); return clone(payload); }

// --- queries ---------------------------------------------------------------------------------

const DEFAULT_PUSH_QUERY = { error: false, blocked: true, allowPush: false, authorised: false, type: 'push' };
const QUERY_KEYS = {
  push: new Set(['id', 'error', 'blocked', 'allowPush', 'authorised', 'canceled', 'rejected', 'type',
    'project', 'repo', 'repoName', 'branch', 'url', 'userEmail', 'method']),
  repo: new Set(['name', 'url', 'project']),
  user: new Set(['username', 'email', 'gitAccount', 'admin', 'oidcId', 'displayName', 'title']),
};
const FOLDED_QUERY_KEYS = new Set(['repo.name', 'user.username', 'user.email', 'user.gitAccount']);

function normaliseQuery(kind, query) {
  if (query === null || query === undefined) return kind === 'push' ? { ...DEFAULT_PUSH_QUERY } : {};
  if (!isObject(query)) throw invalidQuery(toJson(query), `${kind} query must be an object`);
  const out = {};
  for (const key of Object.keys(query)) {
    let value = query[key];
    if (!QUERY_KEYS[kind].has(key)) throw invalidQuery(key, `unsupported ${kind} query key`);
    if (!isScalar(value)) throw invalidQuery(key, `${kind} query value must be a plain scalar`);
    if (typeof value === 'string') {
      checkText(`${kind} query ${key}`, value, false);
      if (FOLDED_QUERY_KEYS.has(`${kind}.${key}`)) value = lower(value);
    }
    setOwn(out, key, value);
  }
  return out;
}

// a key absent from the document matches only null; true never equals 1
function matches(doc, query) {
  for (const key of Object.keys(query)) {
    const want = query[key];
    const haveRaw = get(doc, key);
    const have = haveRaw === undefined ? null : haveRaw;
    if (isNum(have) && isNum(want)) {
      if (plainNum(have) != plainNum(want)) return false; // eslint-disable-line eqeqeq -- BigInt vs Number
    } else if (have !== want) {
      return false;
    }
  }
  return true;
}

// --- ordering (Python compares strings by code point) -----------------------------------------

function cmpStr(a, b) {
  if (a === b) return 0;
  if (!/[\ud800-\udfff]/.test(a + b)) return a < b ? -1 : 1;
  const x = Array.from(a, (ch) => ch.codePointAt(0));
  const y = Array.from(b, (ch) => ch.codePointAt(0));
  for (let k = 0; k < Math.min(x.length, y.length); k++) if (x[k] !== y[k]) return x[k] - y[k];
  return x.length - y.length;
}
function cmpNum(a, b) { a = plainNum(a); b = plainNum(b); return a < b ? -1 : a > b ? 1 : 0; }

// newest first; pushes without a numeric timestamp last; ties by id, descending
function pushOrder(p, q) {
  const pt = isNum(p.timestamp);
  const qt = isNum(q.timestamp);
  if (pt !== qt) return pt ? -1 : 1;
  return (pt ? cmpNum(q.timestamp, p.timestamp) : 0) || cmpStr(q.id, p.id);
}

function sortedBy(docs, field) {
  return docs.map(clone).sort((a, b) => cmpStr(get(a, field) ?? '', get(b, field) ?? '') || cmpStr(a._id, b._id));
}

// --- views and rollups -----------------------------------------------------------------------

const PUSH_LIST_FIELDS = ['id', 'allowPush', 'attestation', 'authorised', 'blocked', 'blockedMessage',
  'branch', 'canceled', 'commitData', 'commitFrom', 'commitTo', 'error', 'method', 'project', 'rejected',
  'rejection', 'repo', 'repoName', 'timestamp', 'type', 'url', 'userEmail'];

function listView(push) {
  const out = {};
  for (const k of PUSH_LIST_FIELDS) if (has(push, k)) out[k] = clone(push[k]);
  return out;
}

function withoutPassword(user) {
  const out = {};
  for (const k of Object.keys(user)) if (k !== 'password') setOwn(out, k, clone(user[k]));
  return out;
}

function profileMatches(push, variants, username) {
  if (get(push, 'type') !== 'push') return false;
  if (variants.length && variants.includes(get(push, 'userEmail'))) return true;
  const reviewer = get(get(push, 'attestation'), 'reviewer');
  const got = get(reviewer, 'username');
  return Boolean(username) && typeof got === 'string' && lower(got) === lower(username);
}

function checkProfileArgs(variants, username) {
  if (variants === null || variants === undefined) variants = [];
  if (!Array.isArray(variants)) throw invalidQuery('email_variants', 'expected a list of strings');
  // an empty email identifies no one: it must not list every push whose author had none
  const checked = variants.map((v) => checkText('email variant', v, false)).filter((v) => v);
  return [checked, checkText('username', username, false)];
}

function canonicalRemoteUrl(url) {
  const raw = pyStrip(url || '');
  if (!raw) return '';
  let host;
  let path;
  let m = /^(https?):\/\/(?:[^@/]*@)?([^/]+)(\/.*)?$/i.exec(raw);
  if (m) {
    host = m[2]; path = m[3] || '';
  } else {
    m = /^[\p{L}\p{N}_.-]+@([^:/]+):(.*)$/u.exec(raw);
    if (!m) return lower(raw);
    host = m[1]; path = m[2];
  }
  path = path.replace(/^\/+|\/+$/g, '');
  if (lower(path).endsWith('.git')) path = path.slice(0, -4);
  path = path.replace(/^\/+|\/+$/g, '');
  return lower(path ? `${host}/${path}` : host);
}

function rollupStatus(push) {
  if (get(push, 'error') === true) return 'error';
  if (get(push, 'rejected') === true) return 'rejected';
  if (get(push, 'canceled') === true) return 'canceled';
  if (get(push, 'authorised') === true) return 'approved';
  if (get(push, 'blocked') === true) return 'pending';
  if (get(push, 'allowPush') === true) return 'approved';
  return 'pending';
}

function addToRollups(rollups, push) {
  if (get(push, 'type') !== 'push') return;
  const url = get(push, 'url');
  const key = typeof url === 'string' ? canonicalRemoteUrl(url) : '';
  if (!key) return;
  const status = rollupStatus(push);
  if (!has(rollups.tabCounts, key)) {
    setOwn(rollups.tabCounts, key, { pending: 0, approved: 0, canceled: 0, rejected: 0, error: 0 });
  }
  rollups.tabCounts[key][status] += 1;
  const ts = get(push, 'timestamp');
  if (!isNum(ts)) return;
  for (const [field, wanted] of [['latestPushAtMs', true], ['latestPendingReviewAtMs', status === 'pending']]) {
    if (wanted && (!has(rollups[field], key) || plainNum(ts) > plainNum(rollups[field][key]))) {
      setOwn(rollups[field], key, ts);
    }
  }
}

// --- time ------------------------------------------------------------------------------------

let lastMs = 0;
function nowMs() { lastMs = Math.max(Date.now(), lastMs + 1); return lastMs; }
const isoFromMs = (ms) => new Date(ms).toISOString();
function msFromIso(value) {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(value);
  return ms;
}

// --- the store -------------------------------------------------------------------------------

class SessionStore {
  constructor(defaultTtl = 86400) { this.defaultTtl = defaultTtl; this.records = new Map(); }

  expiry(sess) {
    const cookie = isObject(get(sess, 'cookie')) ? sess.cookie : {};
    const expires = get(cookie, 'expires');
    if (typeof expires === 'string' && expires) {
      try { return msFromIso(expires); } catch {
        throw invalidDocument('session.cookie.expires', `not a date: ${pyRepr(expires)}`);
      }
    }
    if (isNum(expires)) return Math.trunc(Number(expires));
    // cookie.maxAge is not read: connect-mongo, connect-pg-simple and MemoryStore ignore it too
    return Date.now() + this.defaultTtl * 1000;
  }

  static checkSession(sess) {
    if (!isObject(sess)) throw invalidDocument('session', `expected an object, got ${typeName(sess)}`);
    checkJson('session', sess);
    return sess;
  }

  live(sid) {
    const rec = this.records.get(sid);
    return rec && rec.expires > Date.now() ? rec : undefined;
  }

  get(sid) { const rec = this.live(checkKey('session id', sid)); return rec ? rec.session : null; }

  set(sid, sess) {
    sid = checkKey('session id', sid);
    sess = SessionStore.checkSession(sess);
    this.records.set(sid, { session: sess, expires: this.expiry(sess) });
    return null;
  }

  destroy(sid) { this.records.delete(checkKey('session id', sid)); return null; }

  touch(sid, sess) {
    sid = checkKey('session id', sid);
    sess = SessionStore.checkSession(sess);
    const rec = this.live(sid);
    if (rec) rec.expires = this.expiry(sess);
    return null;
  }

  all() {
    const out = {};
    for (const [sid, rec] of this.records) if (rec.expires > Date.now()) setOwn(out, sid, rec.session);
    return out;
  }

  length() { return Object.keys(this.all()).length; }
  clear() { this.records.clear(); return null; }

  prune() {
    const stale = [...this.records].filter(([, rec]) => rec.expires <= Date.now()).map(([sid]) => sid);
    for (const sid of stale) this.records.delete(sid);
    return stale.length;
  }
}

class MemorySink {
  constructor() {
    this.users = new Map();
    this.repos = new Map();
    this.pushes = new Map();
    this.migrations = new Map();
    this.sessions = new SessionStore();
    this.closed = false;
  }

  open() { if (this.closed) throw unavailable('MemorySink is closed'); }
  close() { this.closed = true; return null; }
  sessionStore() { this.open(); return this.sessions; }

  // pushes
  writeAudit(push) { const doc = checkPush(push); this.open(); this.pushes.set(doc.id, doc); return null; }

  getPush(id) {
    if (!isPlainId(id)) return null;
    this.open();
    return clone(this.pushes.get(id)) ?? null;
  }

  listing(keep) {
    this.open();
    return [...this.pushes.values()].filter(keep).sort(pushOrder).map(listView);
  }

  getPushes(query) { const q = normaliseQuery('push', query); return this.listing((p) => matches(p, q)); }

  getPushesForUserProfile(variants, username) {
    const [v, name] = checkProfileArgs(variants, username);
    return this.listing((p) => profileMatches(p, v, name));
  }

  getRepoPushRollupsByCanonicalUrl() {
    const rollups = { tabCounts: {}, latestPushAtMs: {}, latestPendingReviewAtMs: {} };
    this.open();
    for (const push of this.pushes.values()) addToRollups(rollups, push);
    return rollups;
  }

  deletePush(id) { if (isPlainId(id)) { this.open(); this.pushes.delete(id); } return null; }

  review(id, action, changes) {
    checkId('push id', id);
    this.open();
    const push = this.pushes.get(id);
    if (!push) throw notFound('push_not_found', 'push', id);
    this.pushes.set(id, { ...push, ...changes });
    return { message: `${action} ${id}` };
  }

  authorise(id, attestation) {
    attestation = checkPayload('attestation', attestation);
    return this.review(id, 'authorised', { authorised: true, canceled: false, rejected: false, attestation });
  }

  reject(id, rejection) {
    rejection = checkPayload('rejection', rejection);
    return this.review(id, 'rejected', { authorised: false, canceled: false, rejected: true, rejection });
  }

  cancel(id) { return this.review(id, 'canceled', { authorised: false, canceled: true, rejected: false }); }

  // repos
  getRepos(query) {
    const q = normaliseQuery('repo', query);
    this.open();
    return sortedBy([...this.repos.values()].filter((r) => matches(r, q)), 'name');
  }

  getRepo(name) {
    if (typeof name !== 'string') return null;
    this.open();
    return sortedBy([...this.repos.values()].filter((r) => r.name === lower(name)), 'name')[0] ?? null;
  }

  getRepoByUrl(url) {
    this.open();
    for (const repo of this.repos.values()) if (repo.url === url) return clone(repo);
    return null;
  }

  getRepoById(id) { if (!isPlainId(id)) return null; this.open(); return clone(this.repos.get(id)) ?? null; }

  checkRepoUrlFree(url, ownId) {
    for (const other of this.repos.values()) {
      if (other.url === url && other._id !== ownId) throw duplicate('duplicate_repo', 'repo', 'url', url);
    }
  }

  createRepo(repo) {
    const doc = normaliseNewRepo(repo);
    this.open();
    if (!has(doc, '_id')) doc._id = crypto.randomUUID().replaceAll('-', '');
    if (this.repos.has(doc._id)) throw duplicate('duplicate_repo', 'repo', '_id', doc._id);
    this.checkRepoUrlFree(doc.url, null);
    doc.dateCreated = doc.lastModified = isoFromMs(nowMs());
    this.repos.set(doc._id, doc);
    return clone(doc);
  }

  changeRepo(id, change) {
    this.open();
    const current = isPlainId(id) ? this.repos.get(id) : undefined;
    if (!current) throw notFound('repo_not_found', 'repo', id);
    const repo = clone(current);
    change(repo);
    // repos written by git-proxy itself may carry no lastModified yet
    const floor = typeof repo.lastModified === 'string' ? msFromIso(repo.lastModified) + 1 : 0;
    repo.lastModified = isoFromMs(Math.max(nowMs(), floor));
    this.repos.set(id, repo);
    return clone(repo);
  }

  updateRepo(id, changes) {
    const fields = normaliseRepoChanges(changes);
    return this.changeRepo(id, (repo) => {
      if (has(fields, 'url')) this.checkRepoUrlFree(fields.url, id);
      for (const k of Object.keys(fields)) setOwn(repo, k, fields[k]);
    });
  }

  permission(id, role, user, add) {
    const name = normaliseUsername(user);
    this.changeRepo(id, (repo) => {
      if (!isObject(repo.users)) repo.users = {};
      const names = Array.isArray(repo.users[role]) ? [...repo.users[role]] : [];
      if (add && !names.includes(name)) names.push(name);
      repo.users[role] = add ? names : names.filter((n) => n !== name);
    });
    return null;
  }

  addUserCanPush(id, user) { return this.permission(id, 'canPush', user, true); }
  addUserCanAuthorise(id, user) { return this.permission(id, 'canAuthorise', user, true); }
  removeUserCanPush(id, user) { return this.permission(id, 'canPush', user, false); }
  removeUserCanAuthorise(id, user) { return this.permission(id, 'canAuthorise', user, false); }
  deleteRepo(id) { if (isPlainId(id)) { this.open(); this.repos.delete(id); } return null; }

  // users
  find(field, value, folded = true) {
    if (typeof value !== 'string' || !value) return undefined;
    const want = folded ? lower(value) : value;
    this.open();
    for (const user of this.users.values()) if (get(user, field) === want) return user;
    return undefined;
  }

  findUser(username) { return clone(this.find('username', username)) ?? null; }
  findUserByEmail(email) { return clone(this.find('email', email)) ?? null; }
  findUserByGitAccount(account) { return clone(this.find('gitAccount', account)) ?? null; }
  findUserByOIDC(oidcId) { return clone(this.find('oidcId', oidcId, false)) ?? null; }

  findUserBySSHKey(key) {
    if (typeof key !== 'string' || !key) return null;
    this.open();
    for (const user of this.users.values()) {
      if ((user.publicKeys || []).some((k) => get(k, 'key') === key)) return clone(user);
    }
    return null;
  }

  getUsers(query) {
    const q = normaliseQuery('user', query);
    this.open();
    return sortedBy([...this.users.values()].filter((u) => matches(u, q)), 'username').map(withoutPassword);
  }

  checkUserUnique(user) {
    for (const other of this.users.values()) {
      if (other._id === user._id) continue;
      if (other.username === user.username) throw duplicate('duplicate_user', 'user', 'username', user.username);
      if (user.email && other.email === user.email) throw duplicate('duplicate_user', 'user', 'email', user.email);
    }
  }

  createUser(user) {
    const doc = normaliseNewUser(user);
    this.open();
    if (!has(doc, '_id')) doc._id = crypto.randomUUID().replaceAll('-', '');
    if (this.users.has(doc._id)) throw duplicate('duplicate_user', 'user', '_id', doc._id);
    this.checkUserUnique(doc);
    this.users.set(doc._id, doc);
    return clone(doc);
  }

  updateUser(user) {
    const fields = normaliseUserUpdate(user);
    this.open();
    let current = has(fields, '_id') ? this.users.get(fields._id) : undefined;
    if (!current && has(fields, 'username')) current = this.find('username', fields.username);
    let merged;
    if (!current) {
      if (!has(fields, 'username')) throw notFound('user_not_found', 'user', get(fields, '_id') ?? null);
      merged = normaliseNewUser(fields);
      if (!has(merged, '_id')) merged._id = crypto.randomUUID().replaceAll('-', '');
    } else {
      merged = { ...clone(current), ...fields, _id: current._id };
      if (!has(merged, 'publicKeys')) merged.publicKeys = [];
    }
    this.checkUserUnique(merged);
    this.users.set(merged._id, merged);
    return clone(merged);
  }

  deleteUser(username) {
    this.open();
    const user = this.find('username', username);
    if (user) this.users.delete(user._id);
    return null;
  }

  // public keys
  userOrRaise(username) {
    const user = this.find('username', username);
    if (!user) throw notFound('user_not_found', 'user', username);
    return user;
  }

  addPublicKey(username, key) {
    const record = checkPublicKey(key);
    this.open();
    const user = this.userOrRaise(username);
    for (const other of this.users.values()) {
      if (other._id !== user._id && (other.publicKeys || []).some((k) => get(k, 'key') === record.key)) {
        throw new SinkError('duplicate_ssh_key', `SSH key already belongs to user ${pyRepr(other.username)}`,
          { field: 'owner', value: other.username, owner: other.username });
      }
    }
    const keys = [...(user.publicKeys || [])];
    if (keys.some((k) => get(k, 'key') === record.key || get(k, 'fingerprint') === record.fingerprint)) {
      throw new SinkError('public_key_exists',
        `SSH key already exists for user ${pyRepr(user.username)} (fingerprint ${pyRepr(record.fingerprint)})`,
        { field: 'fingerprint', value: record.fingerprint, username: user.username });
    }
    this.users.set(user._id, { ...user, publicKeys: [...keys, record] });
    return null;
  }

  removePublicKey(username, fingerprint) {
    this.open();
    const user = this.userOrRaise(username);
    const held = user.publicKeys || [];
    const keys = held.filter((k) => get(k, 'fingerprint') !== fingerprint);
    if (keys.length !== held.length) this.users.set(user._id, { ...user, publicKeys: keys });
    return null;
  }

  getPublicKeys(username) { this.open(); return clone(this.userOrRaise(username).publicKeys || []); }

  // migrations ledger
  getAppliedMigrations() { this.open(); return [...this.migrations.keys()]; }

  recordMigration(id) {
    const mid = checkKey('migration id', id);
    this.open();
    if (!this.migrations.has(mid)) this.migrations.set(mid, isoFromMs(nowMs()));
    return null;
  }

  unrecordMigration(id) {
    if (typeof id !== 'string') throw invalidDocument('migration id', 'expected a string');
    this.open();
    this.migrations.delete(id);
    return null;
  }
}

// --- the protocol ----------------------------------------------------------------------------

const SINK_METHODS = ['writeAudit', 'getPush', 'getPushes', 'getPushesForUserProfile',
  'getRepoPushRollupsByCanonicalUrl', 'deletePush', 'authorise', 'reject', 'cancel', 'getRepos',
  'getRepo', 'getRepoByUrl', 'getRepoById', 'createRepo', 'updateRepo', 'addUserCanPush',
  'addUserCanAuthorise', 'removeUserCanPush', 'removeUserCanAuthorise', 'deleteRepo', 'findUser',
  'findUserByEmail', 'findUserByGitAccount', 'findUserByOIDC', 'findUserBySSHKey', 'getUsers',
  'createUser', 'updateUser', 'deleteUser', 'addPublicKey', 'removePublicKey', 'getPublicKeys',
  'getAppliedMigrations', 'recordMigration', 'unrecordMigration', 'close'];
const SESSION_METHODS = ['get', 'set', 'destroy', 'touch', 'all', 'length', 'clear', 'prune'];

let sink = new MemorySink();

const methods = new Map([
  // any capability of the kit's table may be declared; absent ones take the table's default
  ['capabilities', () => ({ interface: '1.0', persistent: false, multi_process: false,
    fault_injection: false, kill_safe: false, session_store: true, divergences: {},
    name: `in-memory JavaScript sink (Node ${process.version})` })],
  ['reset', () => { sink = new MemorySink(); return null; }],
  ['session.defaultTtl', () => sink.sessionStore().defaultTtl],
]);
for (const name of SINK_METHODS) methods.set(name, (...args) => sink[name](...args));
for (const name of SESSION_METHODS) {
  methods.set(`session.${name}`, (...args) => sink.sessionStore()[name](...args));
}

function handle(line) {
  let request;
  try {
    request = parseJson(line);
  } catch {
    return { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } };
  }
  const id = isObject(request) && has(request, 'id') ? request.id : null;
  const reply = (body) => ({ jsonrpc: '2.0', id, ...body });
  if (!isObject(request) || request.jsonrpc !== '2.0' || typeof request.method !== 'string') {
    return reply({ error: { code: -32600, message: 'invalid request' } });
  }
  const params = has(request, 'params') ? request.params : [];
  if (!Array.isArray(params)) return reply({ error: { code: -32602, message: 'params must be an array' } });
  const fn = methods.get(request.method);
  if (!fn) return reply({ error: { code: -32601, message: `method not found: ${request.method}` } });
  try {
    const result = fn(...params);
    return reply({ result: result === undefined ? null : result });
  } catch (err) {
    if (err instanceof SinkError) {
      return reply({ error: { code: -32000, message: err.message, data: { code: err.code, ...err.data } } });
    }
    process.stderr.write(`peer: ${err && err.stack}\n`);
    return reply({ error: { code: -32603, message: String(err && err.message) } });
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => { process.stdout.write(`${toJson(handle(line))}\n`); });
rl.on('close', () => process.exit(0));

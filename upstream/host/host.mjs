// The git-proxy bridge host: serves a git-proxy checkout's own sink over sinkkit's bridge protocol
// (docs/bridge.md: JSON-RPC 2.0, one request per line on stdin, one response per line on stdout).
//
//   <checkout>/node_modules/.bin/tsx upstream/host/host.mjs --checkout <checkout> --kind <kind>
//
// kinds: fs        src/db/file with NODE_ENV=test (NeDB in memory)
//        fs-files  src/db/file on NeDB datafiles under <slot dir>/.data/db
//        postgres  src/db/postgres (env SINKKIT_UPSTREAM_POSTGRES_DSN: the database to use)
//        mongo     src/db/mongo   (env SINKKIT_UPSTREAM_MONGO_URL: a mongodb:// URL with a db)
//
// Every call is forwarded to the upstream module's function of the same name. The host
// translates representation only, never behaviour; each translation is one entry of
// translations.json beside this file (rendered into docs/upstream.md): a change to what the host
// translates changes that list in the same commit.
'use strict';

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { arg, protocolWrite, toStderr } from './stdio.mjs';

// stdout belongs to the protocol (stdio.mjs redirects git-proxy's console output to stderr)
const checkout = path.resolve(arg('checkout') || process.env.SINKKIT_UPSTREAM_CHECKOUT || '');
const kind = arg('kind') || process.env.SINKKIT_UPSTREAM_KIND;
const KINDS = ['fs', 'fs-files', 'postgres', 'mongo'];
if (!KINDS.includes(kind)) {
  toStderr(`sinkkit host: --kind must be one of ${KINDS.join(', ')}, not ${kind}`);
  process.exit(2);
}
if (!fs.existsSync(path.join(checkout, 'src', 'db'))) {
  toStderr(`sinkkit host: ${checkout} is not a git-proxy checkout (no src/db)`);
  process.exit(2);
}

// --- environment before upstream is imported -----------------------------------------------------
// The fs sink creates ./.data/db relative to the working directory at import: start in a private
// directory, so nothing is written into the checkout or the kit.
const home = fs.mkdtempSync(path.join(os.tmpdir(), `sinkkit-host-${kind}-`));
process.chdir(home);
if (kind === 'fs') process.env.NODE_ENV = 'test';
else if (process.env.NODE_ENV === 'test') delete process.env.NODE_ENV;

function writeConfig(sinkEntry) {
  // git-proxy reads its sink from the config file named by CONFIG_FILE: the first enabled entry
  const file = path.join(home, 'proxy.config.json');
  fs.writeFileSync(file, JSON.stringify({ sink: [sinkEntry] }));
  process.env.CONFIG_FILE = file;
}
if (kind === 'postgres') {
  const dsn = process.env.SINKKIT_UPSTREAM_POSTGRES_DSN;
  if (!dsn) { toStderr('sinkkit host: set SINKKIT_UPSTREAM_POSTGRES_DSN'); process.exit(2); }
  writeConfig({ type: 'postgres', enabled: true, connectionString: dsn });
} else if (kind === 'mongo') {
  const url = process.env.SINKKIT_UPSTREAM_MONGO_URL;
  if (!url) { toStderr('sinkkit host: set SINKKIT_UPSTREAM_MONGO_URL'); process.exit(2); }
  writeConfig({ type: 'mongo', enabled: true, connectionString: url, options: {} });
} else {
  writeConfig({ type: 'fs', enabled: true });
}

// require, not import(): upstream's modules are CommonJS under tsx, and index.ts requires
// ./users etc.; one module cache means the datastores reset here are the ones index.ts uses
const requireTs = createRequire(path.join(checkout, 'package.json'));
const moduleDir = { fs: 'src/db/file', 'fs-files': 'src/db/file', postgres: 'src/db/postgres',
  mongo: 'src/db/mongo' }[kind];
const load = (name) => requireTs(path.join(checkout, moduleDir, `${name}.ts`));
const sinkModule = load('index');
const part = (name) => (fs.existsSync(path.join(checkout, moduleDir, `${name}.ts`))
  ? load(name) : null);
const helper = part('helper');

// --- upstream's storage, emptied in place --------------------------------------------------------

const nedbStores = async () => {
  const stores = {};
  for (const name of ['users', 'repo', 'pushes', 'migrations']) {
    const mod = part(name);
    if (mod && mod.db) stores[name] = mod.db;
  }
  return stores;
};
const nedb = kind.startsWith('fs') ? await nedbStores() : {};
const NEDB_COLLECTION = { users: 'duplicate_user', repo: 'duplicate_repo', pushes: 'duplicate_push' };

async function resetNedb(slot) {
  if (kind === 'fs-files') {
    if (!slot || !slot.dir) throw new HostError('config_error', 'fs-files needs a slot with a dir');
    process.chdir(slot.dir);
    fs.mkdirSync(path.join(slot.dir, '.data', 'db'), { recursive: true });
    for (const store of Object.values(nedb)) await store.loadDatabaseAsync();
  }
  for (const store of Object.values(nedb)) await store.removeAsync({}, { multi: true });
}

async function reopenNedb(slot) {
  process.chdir(slot.dir);
  fs.mkdirSync(path.join(slot.dir, '.data', 'db'), { recursive: true });
  for (const store of Object.values(nedb)) await store.loadDatabaseAsync();
}

let pgReady = false;
async function pgReady_() {
  if (pgReady) return;
  if (helper.connect) await helper.connect();
  if (sinkModule.ensureSessionStoreReady) await sinkModule.ensureSessionStoreReady();
  pgReady = true;
}
// the tables to empty, children (tables with foreign keys) first; listed once: DELETE is cheaper
// than TRUNCATE for tables this small (see docs/decisions/0006-postgres-test-isolation.md)
let pgTables = null;
async function resetPostgres() {
  await pgReady_();
  if (!pgTables) {
    const { rows } = await helper.query(
      `SELECT c.relname AS name,
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f')
                AS child
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r'
          AND c.relname <> 'schema_migrations'`);
    pgTables = rows.sort((a, b) => Number(b.child) - Number(a.child)).map((r) => r.name);
  }
  for (const table of pgTables) await helper.query(`DELETE FROM "${table}"`);
}

async function resetMongo() {
  await helper.connect('repos');
  const db = helper.getDb();
  for (const c of await db.listCollections().toArray()) await db.collection(c.name).deleteMany({});
}

// --- the session store ----------------------------------------------------------------------------

let store = null;
function sessionStore() {
  if (kind.startsWith('fs')) return null;
  if (!store) store = sinkModule.getSessionStore ? sinkModule.getSessionStore() : null;
  return store;
}
const cb = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
const storeMethod = (name, call) => async (...args) => {
  const s = sessionStore();
  if (!s || typeof s[name] !== 'function') throw new MethodMissing(`session.${name}`);
  const v = await call(s, ...args);
  return v === undefined ? null : v;
};

// --- errors -----------------------------------------------------------------------------------

class HostError extends Error {
  constructor(code, message, data = {}) { super(message); this.code = code; this.data = data; }
}
class MethodMissing extends Error {}

//: upstream's error messages (exact) and what they mean in the kit's typed errors
const ERROR_MAP = [
  [/^Repo not found$/, 'repo_not_found'],
  [/^push (.*) not found$/, 'push_not_found'],
  [/^User not found$/, 'user_not_found'],
  [/^SSH key already in use by user '(.*)'$/, 'duplicate_ssh_key'],
  [/^SSH key already exists$/, 'public_key_exists'],
];
const PG_TABLE_CODE = { users: 'duplicate_user', repos: 'duplicate_repo', pushes: 'duplicate_push' };

function typed(err, method, params) {
  if (err instanceof HostError) return err;
  const message = String(err && err.message);
  for (const [pattern, code] of ERROR_MAP) {
    if (pattern.test(message)) {
      const data = code === 'duplicate_ssh_key'
        ? { field: 'owner', value: err.existingUsername, owner: err.existingUsername }
        : { key: params[0] };
      return new HostError(code, message, data);
    }
  }
  if (err && err.errorType === 'uniqueViolated') {
    const store = { writeAudit: 'pushes', createRepo: 'repo', updateRepo: 'repo' }[method] || 'users';
    return new HostError(NEDB_COLLECTION[store], message, { field: 'unique index', value: err.key });
  }
  if (err && err.code === '23505' && PG_TABLE_CODE[err.table]) {
    return new HostError(PG_TABLE_CODE[err.table], message,
      { field: err.constraint, value: err.detail });
  }
  return null;
}

// NeDB 4.1.2's model.checkObject walks each array twice: time is exponential in the depth
const NEDB_DEPTH_LIMIT = 40;
function depth(value, d = 0) {
  if (value === null || typeof value !== 'object') return d;
  let max = d + 1;
  for (const v of Object.values(value)) {
    max = Math.max(max, depth(v, d + 1));
    if (max > NEDB_DEPTH_LIMIT + 1) return max;
  }
  return max;
}

// --- the Sink, forwarded ----------------------------------------------------------------------

const SINK_METHODS = ['writeAudit', 'getPush', 'getPushes', 'getPushesForUserProfile',
  'getRepoPushRollupsByCanonicalUrl', 'deletePush', 'authorise', 'reject', 'cancel', 'getRepos',
  'getRepo', 'getRepoByUrl', 'getRepoById', 'createRepo', 'updateRepo', 'addUserCanPush',
  'addUserCanAuthorise', 'removeUserCanPush', 'removeUserCanAuthorise', 'deleteRepo', 'findUser',
  'findUserByEmail', 'findUserByGitAccount', 'findUserByOIDC', 'findUserBySSHKey', 'getUsers',
  'createUser', 'updateUser', 'deleteUser', 'addPublicKey', 'removePublicKey', 'getPublicKeys',
  'getAppliedMigrations', 'recordMigration', 'unrecordMigration'];
const DEFAULT_QUERY = new Set(['getPushes', 'getRepos', 'getUsers']);

const upstream = (name) => {
  const fn = sinkModule[name];
  if (typeof fn !== 'function') throw new MethodMissing(name);
  return fn;
};

let closed = false;
async function forward(name, params) {
  if (closed) throw new HostError('unavailable', `sink is closed (calling ${name})`);
  if (kind.startsWith('fs')) {
    const deep = Math.max(0, ...params.map((p) => depth(p)));
    if (deep > NEDB_DEPTH_LIMIT) {
      throw new HostError('unavailable', `sinkkit host: ${name} not sent to NeDB: an argument ` +
        `nested ${deep}+ levels deep; NeDB 4.1.2 validates documents in time exponential in the ` +
        'nesting depth (51 levels: about 10 s), past the bridge deadline');
    }
  }
  if (kind === 'postgres') await pgReady_();
  if (DEFAULT_QUERY.has(name) && params[0] === null) return upstream(name)();
  switch (name) {
    case 'updateRepo': {
      const [id, changes] = params;
      await upstream('updateRepo')({ ...changes, _id: id });
      return upstream('getRepoById')(id);
    }
    case 'createUser':
    case 'updateUser': {
      const [user] = params;
      await upstream(name)(user);
      const username = user && typeof user.username === 'string' ? user.username : null;
      return username === null ? null : upstream('findUser')(username);
    }
    case 'getRepoPushRollupsByCanonicalUrl': {
      const r = await upstream(name)();
      const obj = (m) => (m instanceof Map ? Object.fromEntries(m) : m);
      return { tabCounts: obj(r.tabCounts), latestPushAtMs: obj(r.latestPushAtMs),
        latestPendingReviewAtMs: obj(r.latestPendingReviewAtMs) };
    }
    default:
      return upstream(name)(...params);
  }
}

const capabilities = () => ({
  persistent: kind !== 'fs',
  // NeDB keeps the whole store in one process's memory and appends to its datafiles
  multi_process: kind === 'postgres' || kind === 'mongo',
  fault_injection: false,
  // fs: getSessionStore() is undefined (express-session falls back to its MemoryStore)
  session_store: !kind.startsWith('fs'),
  divergences: {},
  name: `git-proxy ${kind} sink (${moduleDir}) from ${checkout}, Node ${process.version}`,
});

const methods = new Map([
  ['capabilities', async () => capabilities()],
  ['reset', async (slot) => {
    if (kind.startsWith('fs')) await resetNedb(slot);
    else if (kind === 'postgres') await resetPostgres();
    else await resetMongo();
    closed = false;
    return null;
  }],
  ['reopen', async (slot) => {
    if (kind === 'fs') throw new HostError('config_error', 'the in-memory fs sink cannot reopen');
    if (kind === 'fs-files') await reopenNedb(slot);
    else if (kind === 'postgres') await pgReady_();
    closed = false;
    return null;
  }],
  // close is the kit's lifecycle: upstream sinks are never closed by git-proxy, so the host only
  // stops answering (every later call is `unavailable`), which is what the contract asks
  ['close', async () => { closed = true; return null; }],
  ['session.get', storeMethod('get', (s, sid) => cb((done) => s.get(sid, done)))],
  ['session.set', storeMethod('set', (s, sid, sess) => cb((done) => s.set(sid, sess, done)))],
  ['session.destroy', storeMethod('destroy', (s, sid) => cb((done) => s.destroy(sid, done)))],
  ['session.touch', storeMethod('touch', (s, sid, sess) => cb((done) => s.touch(sid, sess, done)))],
  ['session.all', storeMethod('all', (s) => cb((done) => s.all(done)))],
  ['session.length', storeMethod('length', (s) => cb((done) => s.length(done)))],
  ['session.clear', storeMethod('clear', (s) => cb((done) => s.clear(done)))],
  // connect-pg-simple's pruneSessions reports no count; connect-mongo prunes by TTL index
  ['session.prune', storeMethod('prune', (s) => cb((done) => s.prune(done)))],
  ['session.defaultTtl', async () => {
    const s = sessionStore();
    if (!s) throw new MethodMissing('session.defaultTtl');
    return typeof s.ttl === 'number' ? s.ttl : 86400;
  }],
]);
for (const name of SINK_METHODS) methods.set(name, (...params) => forward(name, params));

// --- the protocol -------------------------------------------------------------------------------

function encode(value) {
  return JSON.stringify(value, (_key, v) => {
    if (v instanceof Map) return Object.fromEntries(v);
    if (typeof v === 'bigint') return Number(v);
    return v;
  });
}

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } };
  }
  const id = request && typeof request === 'object' ? request.id ?? null : null;
  const reply = (body) => ({ jsonrpc: '2.0', id, ...body });
  if (!request || request.jsonrpc !== '2.0' || typeof request.method !== 'string') {
    return reply({ error: { code: -32600, message: 'invalid request' } });
  }
  const params = Array.isArray(request.params) ? request.params : [];
  const fn = methods.get(request.method);
  if (!fn) return reply({ error: { code: -32601, message: `method not found: ${request.method}` } });
  try {
    const result = await fn(...params);
    return reply({ result: result === undefined ? null : result });
  } catch (err) {
    if (err instanceof MethodMissing) {
      return reply({ error: { code: -32601,
        message: `not implemented by this git-proxy checkout: ${err.message}` } });
    }
    const t = typed(err, request.method, params);
    if (t) return reply({ error: { code: -32000, message: t.message, data: { code: t.code, ...t.data } } });
    // one line: the message travels to the kit, and the suite sends bad input on purpose
    toStderr(`sinkkit host: ${request.method}: ${err && err.name}: ${err && err.message}`);
    return reply({ error: { code: -32603, message: `${err && err.name}: ${err && err.message}` } });
  }
}

// Each request is handled as it arrives, not one at a time: the race clauses overlap their calls,
// and upstream's read-modify-write code must interleave here as it does inside git-proxy.
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  handle(line).then((response) => {
    let text;
    try {
      text = encode(response);
    } catch (err) {
      text = encode({ jsonrpc: '2.0', id: response.id,
        error: { code: -32603, message: `result not JSON: ${err.message}` } });
    }
    protocolWrite(`${text}\n`);
  });
});
rl.on('close', () => process.exit(0));

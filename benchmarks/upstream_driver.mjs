// The upstream side of the benchmark: git-proxy's own sink, timed inside Node.
//
//   <checkout>/node_modules/.bin/tsx benchmarks/upstream_driver.mjs --checkout DIR --kind KIND
//       [--dir DIR]
//
// kinds: postgres  src/db/postgres (env SINKKIT_UPSTREAM_POSTGRES_DSN: the database, a URL;
//                  its `options=-c search_path=...` parameter picks the schema)
//        fs-files  src/db/file on NeDB datafiles under <--dir>/.data/db
//
// Why a driver and not the bridge host: a call through the bridge pays a JSON-RPC round trip
// over a pipe, which is most of a point operation's cost; here each op runs N times back to back
// inside Node and only the elapsed time crosses the pipe, the way benchmarks/timing.py times the
// kit's side in-process in Python.
//
// Protocol: one JSON object per line on stdin, one answer per line on stdout ({"ok": true, ...}
// or {"ok": false, "error": "..."}), handled strictly one at a time:
//   {"cmd": "info"}                                  -> {"name", "node", "checkout", "kind"}
//   {"cmd": "write", "pushes": [...], "concurrency": 1}  writeAudit of each push
//   {"cmd": "seed", "users": [...], "repos": [...], "sessions": [[sid, sess], ...]}
//                                                    -> {"repo_ids": [...]} (upstream's _id)
//   {"cmd": "streams", "settled": [...], "ids": [...], "reviews": [...], "grants": [[r, u]],
//    "names": [...], "reads": [...], "writes": [[sid, sess]], "attestation": {...}}
//   {"cmd": "time", "op": NAME, "n": N}              -> {"ns": total ns of N sequential calls}
//   {"cmd": "concurrent", "op": NAME, "n": N, "callers": C}
//                                                    -> {"ns": wall ns of N calls by C callers}
//   {"cmd": "listed"}                                -> {"count": len(getPushes())}
//   {"cmd": "sample", "op": NAME}                    -> {"found": bool} (one call: found
//                                                       something, not null or empty)
//   {"cmd": "load", "dir": DIR}   (fs-files) open DIR/.data/db's datafiles, timed
//                                                    -> {"ns", "rss", "max_rss_kb", "pushes"}
// Ops: write_audit get_push get_pushes authorise add_user_can_push find_user session_get
// session_set (the last two only where the sink has a session store).
'use strict';

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
// stdout carries the protocol: stdio.mjs sends git-proxy's console output to stderr
import { arg, protocolWrite, toStderr } from '../upstream/host/stdio.mjs';

const fail = (message) => { toStderr(`sinkkit bench driver: ${message}`); process.exit(2); };
const checkout = path.resolve(arg('checkout') || '');
const kind = arg('kind');
if (!['postgres', 'fs-files'].includes(kind)) fail(`--kind must be postgres or fs-files, not ${kind}`);
if (!fs.existsSync(path.join(checkout, 'src', 'db'))) fail(`${checkout} is not a git-proxy checkout`);
const dir = path.resolve(arg('dir') || fs.mkdtempSync('/tmp/sinkkit-bench-upstream-'));

// git-proxy reads its sink from the config file CONFIG_FILE names; the fs sink opens
// ./.data/db/*.db relative to the working directory at import
fs.mkdirSync(path.join(dir, '.data', 'db'), { recursive: true });
process.chdir(dir);
if (process.env.NODE_ENV === 'test') delete process.env.NODE_ENV;
let sinkEntry = { type: 'fs', enabled: true };
if (kind === 'postgres') {
  const dsn = process.env.SINKKIT_UPSTREAM_POSTGRES_DSN;
  if (!dsn) fail('set SINKKIT_UPSTREAM_POSTGRES_DSN');
  sinkEntry = { type: 'postgres', enabled: true, connectionString: dsn };
}
fs.writeFileSync(path.join(dir, 'proxy.config.json'), JSON.stringify({ sink: [sinkEntry] }));
process.env.CONFIG_FILE = path.join(dir, 'proxy.config.json');

const requireTs = createRequire(path.join(checkout, 'package.json'));
const moduleDir = kind === 'postgres' ? 'src/db/postgres' : 'src/db/file';
const load = (name) => requireTs(path.join(checkout, moduleDir, `${name}.ts`));
const sink = load('index');
if (kind === 'postgres') {
  const helper = load('helper');
  await helper.connect();
  await sink.ensureSessionStoreReady();
}
const datastores = kind === 'postgres' ? []
  : ['users', 'repo', 'pushes'].map((name) => load(name).db).filter(Boolean);
for (const store of datastores) await store.loadDatabaseAsync();
const store = kind === 'postgres' ? sink.getSessionStore() : null;
const cb = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

// --- argument streams, cycled like benchmarks/workload.py's ---------------------------------
const cycle = (items) => {
  let i = 0;
  return () => {
    if (!items || items.length === 0) throw new Error('stream not set: send "streams" first');
    const v = items[i];
    i = (i + 1) % items.length;
    return v;
  };
};
let next = {};
let attestation = null;

const OPS = {
  write_audit: () => sink.writeAudit(next.settled()),
  get_push: () => sink.getPush(next.ids()),
  get_pushes: () => sink.getPushes(),
  authorise: () => sink.authorise(next.reviews(), attestation),
  add_user_can_push: () => {
    const [repo, user] = next.grants();
    return sink.addUserCanPush(repo, user);
  },
  find_user: () => sink.findUser(next.names()),
  session_get: () => cb((done) => store.get(next.reads(), done)),
  session_set: () => {
    const [sid, sess] = next.writes();
    return cb((done) => store.set(sid, sess, done));
  },
};

function op(name) {
  const fn = OPS[name];
  if (!fn) throw new Error(`unknown op ${name}`);
  if (name.startsWith('session_') && !store) throw new Error(`${kind} sink has no session store`);
  return fn;
}

async function sequential(fn, n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) await fn();
  return Number(process.hrtime.bigint() - start);
}

async function concurrent(fn, n, callers) {
  let left = n;
  const caller = async () => {
    while (left > 0) {
      left -= 1;
      await fn();
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: callers }, caller));
  return Number(process.hrtime.bigint() - start);
}

const commands = {
  info: async () => ({ name: `git-proxy ${kind} sink (${moduleDir})`, node: process.version,
    checkout, kind, session_store: Boolean(store) }),
  write: async ({ pushes, concurrency = 1 }) => {
    const docs = pushes.slice();
    let i = 0;
    const worker = async () => {
      while (i < docs.length) {
        const doc = docs[i];
        i += 1;
        await sink.writeAudit(doc);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return { written: docs.length };
  },
  seed: async ({ users = [], repos = [], sessions = [] }) => {
    for (const user of users) await sink.createUser(user);
    const repoIds = [];
    for (const repo of repos) {
      const made = await sink.createRepo(repo);
      repoIds.push(made && made._id ? made._id : (await sink.getRepo(repo.name))._id);
    }
    if (store) for (const [sid, sess] of sessions) await cb((done) => store.set(sid, sess, done));
    return { repo_ids: repoIds };
  },
  streams: async (s) => {
    next = {};
    for (const key of ['settled', 'ids', 'reviews', 'grants', 'names', 'reads', 'writes']) {
      next[key] = cycle(s[key]);
    }
    attestation = s.attestation;
    return {};
  },
  time: async ({ op: name, n }) => ({ ns: await sequential(op(name), n) }),
  concurrent: async ({ op: name, n, callers }) => ({ ns: await concurrent(op(name), n, callers) }),
  listed: async () => ({ count: (await sink.getPushes()).length }),
  sample: async ({ op: name }) => {
    const value = await op(name)();
    return { found: value !== null && value !== undefined && !(Array.isArray(value) && !value.length) };
  },
  // fs-files: open the NeDB datafiles under another directory (e.g. ones the kit's fs adapter
  // wrote) the way git-proxy does at start, timed; peak RSS is the process's so far
  load: async ({ dir: other }) => {
    if (kind !== 'fs-files') throw new Error('load is for the fs-files kind');
    process.chdir(path.resolve(other));
    const start = process.hrtime.bigint();
    for (const store of datastores) await store.loadDatabaseAsync();
    const ns = Number(process.hrtime.bigint() - start);
    return { ns, rss: process.memoryUsage().rss, max_rss_kb: process.resourceUsage().maxRSS,
      pushes: await load('pushes').db.countAsync({}) };
  },
};

// one request at a time, in order: a timed batch never overlaps another request's work
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let answer;
    try {
      const request = JSON.parse(line);
      const fn = commands[request.cmd];
      if (!fn) throw new Error(`unknown command ${request.cmd}`);
      answer = { ok: true, ...(await fn(request)) };
    } catch (err) {
      answer = { ok: false, error: `${err && err.name}: ${err && err.message}` };
    }
    protocolWrite(`${JSON.stringify(answer)}\n`);
  });
});
rl.on('close', () => { chain.then(() => process.exit(0)); });
protocolWrite(`${JSON.stringify({ ok: true, ready: true })}\n`);

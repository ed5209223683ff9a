#!/usr/bin/env node
// Reads and writes NeDB datafiles with @seald-io/nedb, the library git-proxy's fs sink uses, so
// the Python fs adapter's interop tests can check both directions against the real thing.
//
//   node nedb_tool.js dump DIR            print {collection: [docs sorted by _id]} as JSON; a Date
//                                         is printed as {"$date": ISO} so a test can tell it apart
//                                         (loading compacts each file, as git-proxy's start does)
//   node nedb_tool.js gitproxy DIR        write users, repos, pushes and the migrations ledger the
//                                         way git-proxy's src/db/file/*.ts do, including updates and
//                                         removes, so the files hold superseded lines and tombstones
//   node nedb_tool.js insert DIR NAME     insert the JSON array on stdin into NAME.db ("$date" ISO
//                                         values become Dates)
//   node nedb_tool.js users-index DIR     load users.db and build git-proxy's unique indexes on
//                                         username and email (src/db/file/users.ts); exit 1 with
//                                         NeDB's error when the data violates them
'use strict';

const path = require('path');
const Datastore = require('@seald-io/nedb');

const COLLECTIONS = ['users', 'repos', 'pushes', 'migrations', 'sessions'];

function open(dir, name) {
  return new Datastore({ filename: path.join(dir, `${name}.db`) });
}

function tagDates(value) {
  if (value instanceof Date) return { $date: value.toISOString() };
  if (Array.isArray(value)) return value.map(tagDates);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tagDates(v)]));
  }
  return value;
}

function untagDates(value) {
  if (Array.isArray(value)) return value.map(untagDates);
  if (value && typeof value === 'object') {
    if (typeof value.$date === 'string' && Object.keys(value).length === 1) {
      return new Date(value.$date);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, untagDates(v)]));
  }
  return value;
}

async function dump(dir) {
  const out = {};
  for (const name of COLLECTIONS) {
    const db = open(dir, name);
    await db.loadDatabaseAsync();
    const docs = await db.findAsync({});
    docs.sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    out[name] = tagDates(docs);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function gitproxy(dir) {
  const users = open(dir, 'users');
  await users.loadDatabaseAsync();
  await users.ensureIndexAsync({ fieldName: 'username', unique: true });
  await users.insertAsync({
    username: 'alice', password: 'hash-a', gitAccount: 'alice-gh', email: 'alice@example.com',
    admin: true, oidcId: null, publicKeys: [],
  });
  // a user from before public keys existed: no publicKeys field, a mixed-case gitAccount
  await users.insertAsync({
    username: 'bob', password: 'hash-b', gitAccount: 'Bob-GH', email: 'bob@example.com',
    admin: false, oidcId: null,
  });
  await users.insertAsync({ username: 'carol', password: 'x', email: 'carol@example.com' });
  // updateUser: find, merge, replace (a superseded line)
  const bob = await users.findOneAsync({ username: 'bob' });
  await users.updateAsync({ username: 'bob' }, { ...bob, displayName: 'Bob B' }, { upsert: true });
  await users.removeAsync({ username: 'carol' }, {}); // deleteUser: a tombstone

  const repos = open(dir, 'repos');
  await repos.loadDatabaseAsync();
  await repos.ensureIndexAsync({ fieldName: 'url', unique: true });
  await repos.ensureIndexAsync({ fieldName: 'name', unique: false });
  const repo = await repos.insertAsync({
    project: 'finos', name: 'git-proxy', url: 'https://github.com/finos/git-proxy.git',
    users: { canPush: [], canAuthorise: [] },
  });
  // addUserCanPush: read, change in Node, replace
  await repos.updateAsync({ _id: repo._id },
    { ...repo, users: { canPush: ['alice'], canAuthorise: [] } }, {});
  // a repo from an older release, without a users field
  await repos.insertAsync({ project: 'legacy', name: 'old-repo', url: 'https://example.com/old.git' });

  const pushes = open(dir, 'pushes');
  await pushes.loadDatabaseAsync();
  await pushes.ensureIndexAsync({ fieldName: 'id', unique: true });
  const push = {
    id: '0000000000000000000000000000000000000000__1a2b3c', type: 'push', method: 'POST',
    timestamp: 1700000000000, project: 'finos', repoName: 'git-proxy.git',
    url: 'https://github.com/finos/git-proxy.git', repo: 'finos/git-proxy.git', branch: 'refs/heads/main',
    commitFrom: '0000000000000000000000000000000000000000', commitTo: '1a2b3c',
    commitData: [{ message: 'héllo "quoted" ✓', author: 'alice' }], userEmail: 'alice@example.com',
    error: false, blocked: true, allowPush: false, authorised: false, canceled: false,
    rejected: false, blockedMessage: 'waiting for review', steps: [{ stepName: 'parsePush', error: false }],
  };
  const options = { multi: false, upsert: true };
  await pushes.updateAsync({ id: push.id }, push, options); // writeAudit: upsert, random _id
  // authorise: getPush, change, writeAudit (a superseded line); a Date inside the attestation
  await pushes.updateAsync({ id: push.id }, {
    ...push, authorised: true,
    attestation: { reviewer: { username: 'alice', email: 'alice@example.com' },
      timestamp: new Date('2024-01-02T03:04:05.678Z'), questions: [] },
  }, options);
  await pushes.updateAsync({ id: 'doomed' }, { ...push, id: 'doomed' }, options);
  await pushes.removeAsync({ id: 'doomed' }, {}); // deletePush: a tombstone

  const migrations = open(dir, 'migrations');
  await migrations.loadDatabaseAsync();
  await migrations.ensureIndexAsync({ fieldName: 'id', unique: true });
  await migrations.updateAsync({ id: '0001-init' }, { id: '0001-init' }, { upsert: true });
  await migrations.updateAsync({ id: '0002-gone' }, { id: '0002-gone' }, { upsert: true });
  await migrations.removeAsync({ id: '0002-gone' }, {});
}

async function insert(dir, name) {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const docs = untagDates(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  const db = open(dir, name);
  await db.loadDatabaseAsync();
  await db.insertAsync(docs);
}

async function usersIndex(dir) {
  const db = open(dir, 'users');
  await db.loadDatabaseAsync();
  await db.ensureIndexAsync({ fieldName: 'username', unique: true });
  await db.ensureIndexAsync({ fieldName: 'email', unique: true });
}

const [command, dir, name] = process.argv.slice(2);
const commands = {
  dump: () => dump(dir), gitproxy: () => gitproxy(dir), insert: () => insert(dir, name),
  'users-index': () => usersIndex(dir),
};
if (!commands[command] || !dir) {
  process.stderr.write('usage: nedb_tool.js dump|gitproxy|insert|users-index DIR [NAME]\n');
  process.exit(2);
}
commands[command]().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

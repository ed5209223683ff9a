// Drives connect-pg-simple (git-proxy's PostgreSQL session store) against a table the Python
// sink created, so the kit can check both sides read each other's sessions.
// Connection from the standard PG* environment variables (node-postgres reads them).
// Usage: node interop.js <schema> <table> set <sid> <json> | get <sid> | touch <sid> <json> | destroy <sid>
// (connect-pg-simple implements get/set/destroy/touch only; no all/length/clear)
'use strict';

const session = require('express-session');
const { Pool } = require('pg');
const PgStore = require('connect-pg-simple')(session);

const [schemaName, tableName, command, sid, json] = process.argv.slice(2);
const pool = new Pool({ max: 1 });
const store = new PgStore({
  pool, schemaName, tableName, createTableIfMissing: false, pruneSessionInterval: false,
});

const call = (method, ...args) => new Promise((resolve, reject) =>
  store[method](...args, (err, value) => (err ? reject(err) : resolve(value))));

async function main () {
  switch (command) {
    case 'set': return call('set', sid, JSON.parse(json));
    case 'touch': return call('touch', sid, JSON.parse(json));
    case 'get': return call('get', sid);
    case 'destroy': return call('destroy', sid);
    default: throw new Error(`unknown command ${command}`);
  }
}

main()
  .then((value) => { process.stdout.write(JSON.stringify(value === undefined ? null : value)); })
  .catch((err) => { process.stderr.write(String(err && err.stack)); process.exitCode = 1; })
  .finally(() => { store.close(); return pool.end(); });

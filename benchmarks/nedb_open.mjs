// Opens one NeDB datafile the way git-proxy's fs sink does (load, which compacts, then its
// unique index on `id`) and prints {load_s, peak_rss_kb, stored} as one JSON line.
// usage: node benchmarks/nedb_open.mjs <node_modules dir> <datafile>
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [modules, datafile] = process.argv.slice(2);
const Datastore = createRequire(path.join(modules, 'x.js'))('@seald-io/nedb');

// VmHWM, the process's peak resident set, as the Python side reads its own
const peakKb = () => Number(fs.readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+)/)[1]);

const before = peakKb();
const start = process.hrtime.bigint();
const db = new Datastore({ filename: datafile });
await db.loadDatabaseAsync();
await db.ensureIndexAsync({ fieldName: 'id', unique: true });
const load_s = Number(process.hrtime.bigint() - start) / 1e9;
const stored = await db.countAsync({});
console.log(JSON.stringify({ load_s, peak_rss_kb: peakKb(), rss_before_open_kb: before, stored }));

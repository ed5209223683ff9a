// What the bridge host (host.mjs) and the bench's upstream driver (benchmarks/upstream_driver.mjs)
// share: stdout belongs to the protocol, and --name value arguments.
//
// git-proxy logs with console.log; everything but our own responses goes to stderr, so a log
// line can never be mistaken for (or interleave with) a response. Importing this module makes
// the redirection, before the importer's own code (and so git-proxy's) runs.
'use strict';

export const protocolWrite = process.stdout.write.bind(process.stdout);
export const toStderr = (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
console.warn = toStderr;
process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest);

const argv = process.argv.slice(2);
export const arg = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

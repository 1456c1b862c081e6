// `npm run test:node24`: the whole suite (`npm test`: typecheck and every test) on Node 24, with
// Node 24 no dependency of the project and the Node 20 install left as it is.
//
// - Node 24 is the npm registry's per-platform package `node-<platform>-<arch>` (the binary and
//   the headers of the official release), fetched once with `npm pack` and unpacked in the temp
//   directory; nothing comes from anywhere but the registry. (`npx node@24` runs the same binary,
//   but npx prunes the headers from its cache on the next run, and native addons need them.)
// - Native addons (better-sqlite3) must be built for Node 24's ABI, and the Node 20 build has to
//   stay where it is. So the suite runs in a copy of the work tree in the temp directory, with a
//   copy of node_modules whose native addons `npm rebuild` compiles against those headers
//   (npm_config_nodedir: node-gyp would otherwise download them). That copy is made once per
//   package-lock.json and Node version; the work tree (git's tracked and untracked files, not the
//   ignored ones) is copied afresh on every run.
// - Node 24 is put first on PATH, so whatever the tests start (`node`, `npm run …`) runs on it.
//
// NODE_MAJOR=22 npm run test:node24 runs the suite on another major the same way.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MAJOR = process.env.NODE_MAJOR ?? '24';
const NATIVE_ADDONS = ['better-sqlite3'];
const BASE = path.join(os.tmpdir(), `openai-backend-node${MAJOR}`);

const say = (line) => process.stderr.write(`test:node${MAJOR}: ${line}\n`);

/** The newest release of this major already unpacked, or the registry's, fetched and unpacked now. */
function runtime() {
  const releases = path.join(BASE, 'runtime');
  fs.mkdirSync(releases, { recursive: true });
  const platformPackage = `node-${process.platform}-${process.arch}`;
  const unpacked = fs
    .readdirSync(releases)
    .filter((name) => fs.existsSync(path.join(releases, name, 'package', 'include', 'node', 'node_api.h')))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (unpacked.length === 0) {
    say(`fetching ${platformPackage}@${MAJOR} from the npm registry`);
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', `${platformPackage}@${MAJOR}`, '--pack-destination', releases, '--json'], {
        cwd: releases,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const target = path.join(releases, packed.version);
    fs.mkdirSync(target, { recursive: true });
    execFileSync('tar', ['xzf', path.join(releases, packed.filename), '-C', target]);
    fs.rmSync(path.join(releases, packed.filename));
    unpacked.push(packed.version);
  }
  const home = path.join(releases, unpacked.at(-1), 'package');
  return { execPath: path.join(home, 'bin', 'node'), headers: home };
}

const { execPath, headers } = runtime();
const version = execFileSync(execPath, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
say(`${version} at ${execPath}`);

const dir = path.join(BASE, 'work');
const env = {
  ...process.env,
  PATH: `${path.dirname(execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
  npm_config_nodedir: headers,
};

// The work tree as git sees it (tracked and untracked, not ignored), copied afresh.
fs.mkdirSync(dir, { recursive: true });
for (const entry of fs.readdirSync(dir)) {
  if (entry !== 'node_modules' && entry !== '.node_modules-stamp') fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
}
const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
  .split('\0')
  .filter((file) => file && fs.existsSync(path.join(ROOT, file)));
for (const file of files) {
  fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
}

// node_modules, with its native addons rebuilt for Node 24: once per lockfile and Node version.
const stampFile = path.join(dir, '.node_modules-stamp');
const stamp = createHash('sha256').update(fs.readFileSync(path.join(ROOT, 'package-lock.json'))).update(version).digest('hex');
if (!fs.existsSync(stampFile) || fs.readFileSync(stampFile, 'utf8') !== stamp) {
  say(`copying node_modules to ${dir} and rebuilding ${NATIVE_ADDONS.join(', ')} for ${version}`);
  fs.rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true });
  fs.cpSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  const rebuild = spawnSync('npm', ['rebuild', ...NATIVE_ADDONS], { cwd: dir, env, stdio: 'inherit' });
  if (rebuild.status !== 0) {
    say(`npm rebuild ${NATIVE_ADDONS.join(' ')} failed (exit ${rebuild.status})`);
    process.exit(1);
  }
  fs.writeFileSync(stampFile, stamp);
}

say(`npm test in ${dir}`);
const run = spawnSync('npm', ['test'], { cwd: dir, env, stdio: 'inherit' });
process.exit(run.status ?? 1);

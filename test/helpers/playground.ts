import { existsSync } from 'node:fs';
import path from 'node:path';
import { PLAYGROUND_DIR } from '../../src/http/playground.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/**
 * Makes sure dist/playground holds a build: `npm test` builds it before the suite; a test file
 * run on its own on a fresh clone builds it here (Vite's own build API, the same config).
 */
export async function ensurePlaygroundBuilt(): Promise<string> {
  if (!existsSync(path.join(PLAYGROUND_DIR, 'index.html'))) {
    const { build } = await import('vite');
    await build({ configFile: path.join(ROOT, 'playground', 'vite.config.ts'), logLevel: 'warn' });
  }
  return PLAYGROUND_DIR;
}

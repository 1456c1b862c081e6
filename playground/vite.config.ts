import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * Writes FILE.br and FILE.gz beside every text file of the build, so the server sends them
 * as they are (@fastify/static preCompressed) instead of compressing on every request.
 */
function precompress(): Plugin {
  return {
    name: 'playground-precompress',
    apply: 'build',
    async writeBundle(options, bundle) {
      for (const fileName of Object.keys(bundle)) {
        if (!/\.(html|js|css|svg|json)$/.test(fileName)) continue;
        const file = path.join(options.dir!, fileName);
        const data = await readFile(file);
        await writeFile(`${file}.gz`, gzipSync(data, { level: 9 }));
        await writeFile(
          `${file}.br`,
          brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }),
        );
      }
    },
  };
}

export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  // Preact's JSX through esbuild, which Vite already uses for TypeScript: no Babel.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: path.join(root, '..', 'dist', 'playground'),
    emptyOutDir: true,
    target: 'es2022',
    // The preload polyfill is for browsers without <link rel=modulepreload>; every target has it.
    modulePreload: { polyfill: false },
  },
  plugins: [precompress()],
});

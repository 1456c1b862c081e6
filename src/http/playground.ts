import { existsSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import { sendError } from './error-handler.js';

/** Where `npm run build:playground` (run by `npm start` and `npm test`) writes the built playground. */
export const PLAYGROUND_DIR = path.resolve(import.meta.dirname, '..', '..', 'dist', 'playground');

/**
 * The page runs only the bundle it was served with: no inline script or style, no eval, no
 * other origin, no plugins, not framed. Model output is sanitised before it reaches the DOM;
 * this is the second wall should that ever fail.
 */
export const PLAYGROUND_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Vite names every asset by its content hash: a changed file is a new URL, so it may be cached forever. */
const HASHED_ASSET = `${path.sep}assets${path.sep}`;

/**
 * GET / and the files it loads, outside the authenticated scope (the contract exempts them:
 * the page asks for the key). Files are precompressed at build time (.br, .gz beside each)
 * and picked by Accept-Encoding; index.html is revalidated on every load, hashed assets are
 * immutable. Only files that existed at start-up are routes: any other path stays the API's
 * JSON 404. Without a build, / says how to make one.
 */
export function playgroundRoutes(dir = PLAYGROUND_DIR) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', PLAYGROUND_CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
    });
    // @fastify/send's own refusals (416 for an unsatisfiable Range, 412 for a failed
    // If-Match) are the client's, in the contract's shape.
    app.setErrorHandler((error: FastifyError & { status?: number }, request, reply) => {
      const status = error.statusCode ?? error.status;
      if (!error.code?.startsWith('FST_') && status !== undefined && status >= 400 && status < 500) {
        const name = STATUS_CODES[status] ?? 'Bad Request';
        return sendError(request, reply, new AppError(status, name.toLowerCase().replace(/[^a-z0-9]+/g, '_'), error.message || name));
      }
      throw error; // to the app's handler
    });

    if (!existsSync(path.join(dir, 'index.html'))) {
      app.get('/', { schema: { hide: true } }, async () => {
        throw new AppError(404, 'not_found', 'The playground is not built: run `npm run build:playground` (`npm start` builds it)');
      });
      return;
    }
    await app.register(fastifyStatic, {
      root: dir,
      prefix: '/',
      wildcard: false,
      globIgnore: ['**/*.br', '**/*.gz'],
      preCompressed: true,
      cacheControl: false,
      setHeaders(reply, filePath) {
        reply.header('cache-control', filePath.includes(HASHED_ASSET) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
  };
}

import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { userService } from '../../src/services/user-service.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { SQLITE, type TestDatabase } from './databases.js';

export interface TestApp {
  app: FastifyInstance;
  storage: Storage;
  config: Config;
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Raw log text, for "no secret appears" checks. */
  logText(): string;
  /** Base URL once `listen()` was called. */
  listen(): Promise<string>;
  createUser(name?: string): Promise<{ id: string; apiKey: string }>;
  /** app.inject with the key as a bearer token and JSON bodies encoded. */
  request(options: InjectOptions & { key?: string; json?: unknown }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/**
 * Builds the real application, exactly as main.ts does, on a fresh database
 * (SQLite file by default) with the given environment variables.
 */
export async function createTestApp(options: { env?: Record<string, string>; database?: TestDatabase } = {}): Promise<TestApp> {
  const database = await (options.database ?? SQLITE).create();
  const config = loadConfig({ LOG_LEVEL: 'info', ...options.env, DATABASE_URL: database.url });
  const storage = openStorage(config.database.url, { poolSize: 4 });
  await storage.migrate();
  let text = '';
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const app = await buildApp({ config, storage, logStream });
  const users = userService(storage);
  return {
    app,
    storage,
    config,
    get logs() {
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => text,
    async listen() {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('no address');
      return `http://127.0.0.1:${address.port}`;
    },
    async createUser(name = 'test-user') {
      const { user, apiKey } = await users.createUser(name);
      return { id: user.id, apiKey };
    },
    request({ key, json, headers, ...rest }) {
      return app.inject({
        ...rest,
        headers: {
          ...(key && { authorization: `Bearer ${key}` }),
          ...(json !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(json !== undefined && { payload: JSON.stringify(json) }),
      });
    },
    async close() {
      await app.close();
      await storage.close();
      await database.drop();
    },
  };
}

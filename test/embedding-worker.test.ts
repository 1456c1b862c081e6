import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config/config.js';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { embeddingWorker } from '../src/services/embedding-worker.js';
import { openStorage } from '../src/storage/open-storage.js';
import type { Storage } from '../src/storage/storage.js';
import { embeddingModel } from '../src/upstream/embedding-model.js';
import { providerTransport } from '../src/upstream/transport.js';
import { TEST_DATABASES } from './helpers/databases.js';

const [SQLITE] = TEST_DATABASES;

describe('embedding worker: the background loop', () => {
  let fake: FakeOpenAI;
  let storage: Storage;
  let drop: () => Promise<void>;
  before(async () => {
    fake = await startFakeOpenAI();
    const db = await SQLITE!.create();
    drop = db.drop;
    storage = openStorage(db.url);
    await storage.migrate();
  });
  after(async () => {
    await storage.close();
    await drop();
    await fake.close();
  });

  test('an idle worker polling for hours holds no more listeners than when it started', async () => {
    const config = loadConfig({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${fake.url}/v1` });
    const model = embeddingModel(providerTransport(config.openai), config.openai);
    // Counts the worker's rounds: each asks the queue for due jobs once.
    let rounds = 0;
    const counted: Storage = {
      ...storage,
      embeddings: new Proxy(storage.embeddings, {
        get: (target, key, receiver) => {
          const value = Reflect.get(target, key, receiver) as unknown;
          if (key !== 'claimDue' || typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            rounds++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      }),
    };
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const worker = embeddingWorker({ storage: counted, model, options: { intervalMs: 1, retryMaxMs: 10 } });
    try {
      worker.start();
      // Each wait between rounds used to leave an abort listener on the worker's signal:
      // Node warns at 11, and they piled up for as long as the process ran.
      const deadline = Date.now() + 10_000;
      while (rounds < 40 && Date.now() < deadline) await sleep(5);
      assert.ok(rounds >= 40, `only ${rounds} rounds ran`);
    } finally {
      await worker.stop();
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    );
  });
});

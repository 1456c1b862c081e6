import fs from 'node:fs';
import v8 from 'node:v8';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config/config.js';
import { openStorage } from './storage/open-storage.js';

/**
 * V8 lets the heap grow to several times what is live before collecting it fully,
 * which with thousands of open streams meant ~500 MB resident for ~150 MB live.
 * A 1.2x growth factor keeps memory near the live set at no measurable cost in
 * throughput (bench/). Set here rather than on the command line: an unknown
 * flag is ignored instead of stopping start-up.
 */
v8.setFlagsFromString('--heap-growing-percent=20');

/** Start-up: config → database (migrated) → app → listen; SIGTERM/SIGINT close it gracefully. */
async function main(): Promise<void> {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const line of error.problems) process.stderr.write(`config error: ${line}\n`);
      process.exit(1);
    }
    throw error;
  }

  const storage = openStorage(config.database.url, { poolSize: config.database.poolSize });
  await storage.migrate();
  const app = await buildApp({ config, storage });
  if (!config.openai.apiKey && !config.openai.baseURL) {
    app.log.warn(
      'no model provider configured: model endpoints (/chat, /agent, /search/semantic, /v1) answer 503 provider_not_configured; ' +
        'set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server such as `npm run fake-openai`)',
    );
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal, grace_ms: config.shutdownGraceMs }, 'shutting down: draining in-flight requests and streams');
    // app.close() stops accepting at once, waits for what is in flight and, when the grace period is
    // over, aborts it (see http/shutdown.ts). Should a connection still hang on after that, cut it.
    const force = setTimeout(() => {
      app.log.warn('connections still open after the grace period; closing them');
      app.server.closeAllConnections();
    }, config.shutdownGraceMs + 2000);
    force.unref();
    try {
      await app.close(); // also closes Redis
      await storage.close();
    } catch (error) {
      app.log.error({ err: error }, 'error while shutting down');
    }
    clearTimeout(force);
    app.log.info('shut down');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  // Node's default accept queue (511) overflows when thousands of clients connect at once (5,000
  // streams opened together: 253 connections reset with it, bench/v1.ts); the kernel caps this at somaxconn.
  await app.listen({ host: config.host, port: config.port, backlog: 4096 });
}

main().catch((error: unknown) => {
  process.stderr.write(`fatal: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

import fs from 'node:fs';
import { ConfigError, loadConfig } from '../config/config.js';
import { embeddingWorker } from '../services/embedding-worker.js';
import { userService } from '../services/user-service.js';
import { openStorage } from '../storage/open-storage.js';
import { embeddingModel } from '../upstream/embedding-model.js';
import { providerTransport } from '../upstream/transport.js';

/**
 * Operator commands, on the same DATABASE_URL as the server (safe while it runs).
 * Output is JSON on stdout, one line per record, so scripts can read it.
 */
const USAGE = `usage: npm run --silent admin -- <command>
  create-user NAME        create a user and print {"id","name","api_key"} (the key is shown only once)
  list-users              print one JSON line per user: {"id","name","created_at","active_keys"}
  revoke-key KEY_OR_ID    revoke an API key, given the key itself or its id
  reindex                 embed every task not embedded with the current model and size (or queued) once, and print
                          {"model","dimensions","queued","embedded","unchanged","failed","pending"}`;

async function run(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig();
  const storage = openStorage(config.database.url, { poolSize: 1 });
  try {
    await storage.migrate();
    const users = userService(storage);
    switch (command) {
      case 'create-user': {
        const name = rest.join(' ').trim();
        if (!name || name.length > 200) return fail('create-user needs a NAME of 1 to 200 characters');
        const { user, apiKey } = await users.createUser(name);
        print({ id: user.id, name: user.name, api_key: apiKey });
        return 0;
      }
      case 'list-users':
        for (const u of await users.listUsers()) print({ id: u.id, name: u.name, created_at: u.createdAt, active_keys: u.activeKeys });
        return 0;
      case 'revoke-key': {
        const target = rest[0];
        if (!target) return fail('revoke-key needs the key or its id');
        if (!(await users.revokeKey(target))) return fail('no active key matches');
        print({ revoked: true });
        return 0;
      }
      case 'reindex': {
        const transport = providerTransport(config.openai);
        if (!transport) return fail('reindex needs a model provider: set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server)');
        try {
          const model = embeddingModel(transport, config.openai);
          print(await embeddingWorker({ storage, model, options: config.embeddingWorker }).reindex());
        } finally {
          await transport.close();
        }
        return 0;
      }
      default:
        return fail(command ? `unknown command: ${command}` : 'no command given');
    }
  } finally {
    await storage.close();
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

function fail(message: string): number {
  process.stderr.write(`${message}\n${USAGE}\n`);
  return 2;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) error.problems.forEach((p) => process.stderr.write(`config error: ${p}\n`));
    else process.stderr.write(`admin: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

import fs from 'node:fs';
import { ConfigError, loadConfig } from '../config/config.js';
import { embeddingWorker } from '../services/embedding-worker.js';
import { usageRangeInput } from '../services/usage-schemas.js';
import { toLimitChanges, userLimitsInput } from '../services/user-schemas.js';
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
  create-key USER_ID      print {"api_key","key_id"}: another key for the user
  set-limits USER_ID [--rate-limit-per-minute N|default] [--tokens-per-minute N|default]
                          set (or reset to the default) a user's limits; prints the user with its limits
  usage [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--user USER_ID]
                          print one JSON line per user, day and model:
                          {"user_id","day","model","requests","prompt_tokens","completion_tokens","total_tokens"}
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
      case 'create-key': {
        const key = rest[0] ? await users.addKey(rest[0]) : undefined;
        if (!key) return fail(rest[0] ? 'no user with that id' : 'create-key needs a USER_ID');
        print({ api_key: key.apiKey, key_id: key.keyId });
        return 0;
      }
      case 'set-limits': {
        const [userId, ...flags] = rest;
        const options = parseFlags(flags, ['rate-limit-per-minute', 'tokens-per-minute']);
        if (!userId || typeof options === 'string') return fail(typeof options === 'string' ? options : 'set-limits needs a USER_ID');
        const value = (v: string | undefined) => (v === undefined ? undefined : v === 'default' ? null : Number(v));
        const parsed = userLimitsInput.safeParse({
          rate_limit_per_minute: value(options['rate-limit-per-minute']),
          tokens_per_minute: value(options['tokens-per-minute']),
        });
        if (!parsed.success) return fail(`set-limits: ${parsed.error.issues.map((i) => `--${String(i.path[0]).replaceAll('_', '-')}: ${i.message}`).join('; ')}`);
        const user = await users.setLimits(userId, toLimitChanges(parsed.data));
        if (!user) return fail('no user with that id');
        print({ id: user.id, name: user.name, rate_limit_per_minute: user.rateLimitPerMinute ?? null, tokens_per_minute: user.tokensPerMinute ?? null });
        return 0;
      }
      case 'usage': {
        const options = parseFlags(rest, ['from', 'to', 'user']);
        if (typeof options === 'string') return fail(options);
        const range = usageRangeInput.safeParse({ from: options.from, to: options.to });
        if (!range.success) return fail(`usage: ${range.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; ')}`);
        for (const r of await storage.usage.list({ ...range.data, userId: options.user })) {
          print({ user_id: r.userId, day: r.day, model: r.model, requests: r.requests, prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.totalTokens });
        }
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

/** `--name value` pairs of the given names; a message for anything else. */
function parseFlags(args: string[], names: string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]!.replace(/^--/, '');
    const value = args[i + 1];
    if (!args[i]!.startsWith('--') || !names.includes(name)) return `unknown option: ${args[i]}`;
    if (value === undefined) return `--${name} needs a value`;
    out[name] = value;
  }
  return out;
}

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

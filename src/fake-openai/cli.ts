/**
 * `npm run fake-openai`: runs the fake OpenAI server until SIGINT/SIGTERM.
 *   FAKE_OPENAI_HOST    default 127.0.0.1
 *   FAKE_OPENAI_PORT    default 8090 (0 = a free port)
 *   FAKE_OPENAI_RECORD  "1"/"true" records requests for GET /_fake/requests (off by default)
 *   FAKE_OPENAI_API_KEY when set, /v1 requests must send `Authorization: Bearer <key>`
 */
import { startFakeOpenAI } from './server.js';

function fail(message: string): never {
  process.stderr.write(`fake-openai: ${message}\n`);
  process.exit(1);
}

const env = process.env;
const host = env.FAKE_OPENAI_HOST || '127.0.0.1';
const portText = env.FAKE_OPENAI_PORT || '8090';
if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) fail(`FAKE_OPENAI_PORT must be an integer from 0 to 65535, got "${portText}"`);
const recordText = (env.FAKE_OPENAI_RECORD ?? '').toLowerCase();
const record = recordText === '1' || recordText === 'true' || recordText === 'yes';
const apiKey = env.FAKE_OPENAI_API_KEY || undefined;

let fake;
try {
  fake = await startFakeOpenAI({ host, port: Number(portText), record, apiKey });
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  fail(e.code === 'EADDRINUSE' ? `${host}:${portText} is already in use (set FAKE_OPENAI_PORT)` : e.message);
}
process.stdout.write(`fake-openai listening on ${fake.url}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(1); // a second signal: stop at once
  stopping = true;
  fake.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

import { startFakeOpenAI, type FakeOpenAI } from '../../src/fake-openai/server.js';
import type { TestDatabase } from './databases.js';
import { createTestApp, type TestApp } from './test-app.js';

export interface ChatFixture {
  t: TestApp;
  fake: FakeOpenAI;
  close(): Promise<void>;
}

/** The real app pointed at a fresh fake OpenAI server over HTTP. */
export async function createChatFixture(
  options: { env?: Record<string, string>; database?: TestDatabase; fakeApiKey?: string } = {},
): Promise<ChatFixture> {
  const fake = await startFakeOpenAI(options.fakeApiKey ? { apiKey: options.fakeApiKey } : {});
  const t = await createTestApp({
    ...(options.database && { database: options.database }),
    env: { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: options.fakeApiKey ?? 'sk-test-key', ...options.env },
  });
  return {
    t,
    fake,
    async close() {
      await t.close();
      await fake.close();
    },
  };
}

/** Chat completion requests the fake received, oldest first. */
export const chatRequests = (fake: FakeOpenAI) => fake.requests.filter((r) => r.path === '/v1/chat/completions');

/** Parses an SSE body into its data payloads: JSON objects, or raw strings such as [DONE]. */
export function parseSse(text: string): unknown[] {
  return text
    .split('\n\n')
    .map((block) =>
      block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .join('\n'),
    )
    .filter(Boolean)
    .map((data) => {
      try {
        return JSON.parse(data);
      } catch {
        return data;
      }
    });
}

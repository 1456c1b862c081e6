/**
 * Seeds a variant's database through the app's own storage layer, before the app
 * starts: conversations for the listing benchmark and one long conversation (1,000
 * alternating user/assistant messages of ~20 words) for the history benchmark.
 * The user itself is made by the admin CLI, as an operator would.
 */
import { newId } from '../../src/shared/ids.js';
import { loadTokenCounter, TOKENS_PER_MESSAGE } from '../../src/services/token-counter.js';
import { openStorage } from '../../src/storage/open-storage.js';
// The tests' seeded generator, so every run seeds the same text.
import { mulberry32 } from '../../test/helpers/random.js';

const WORDS = (
  'the a to of and in that is for it with as on be this are was by at or from an have not you we can ' +
  'will your our which about more their if they has one would all there what when up out so time new ' +
  'some could them other than then into only its also after use two how over first well way even because ' +
  'these most any work through where much before should need each those people might help data report ' +
  'meeting budget project plan team review draft email customer schedule question answer summary issue ' +
  'deadline quarter revenue forecast design server deploy feature release invoice contract travel flight ' +
  'hotel recipe dinner weekend article chapter exercise training model prompt function database query'
).split(' ');

function sentence(next: () => number, words: number): string {
  const parts = Array.from({ length: words }, () => WORDS[Math.floor(next() * WORDS.length)]!);
  const text = parts.join(' ');
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`;
}

export interface Seeded {
  userId: string;
  conversations: number;
  longConversationId: string;
  longConversationMessages: number;
}

export async function seed(
  databaseUrl: string,
  options: { userId: string; conversations: number; longMessages: number },
): Promise<Seeded> {
  const storage = openStorage(databaseUrl, { poolSize: 2 });
  try {
    await storage.migrate();
    const user = (await storage.users.list()).find((u) => u.id === options.userId);
    if (!user) throw new Error(`user ${options.userId} (made by the admin CLI) not found`);
    const tokens = await loadTokenCounter('gpt-4o-mini');
    const next = mulberry32(42);
    const base = Date.now() - 86_400_000;
    const at = (ms: number) => new Date(base + ms).toISOString();

    for (let i = 0; i < options.conversations; i++) {
      const created = at(i * 60_000);
      await storage.conversations.create({
        id: newId(),
        userId: user.id,
        title: sentence(next, 6),
        createdAt: created,
        updatedAt: created,
      });
    }

    const longConversationId = newId();
    await storage.transaction(async (tx) => {
      const created = at(options.conversations * 60_000);
      await tx.conversations.create({ id: longConversationId, userId: user.id, title: 'A long conversation', createdAt: created, updatedAt: created });
      for (let i = 0; i < options.longMessages; i++) {
        const content = sentence(next, 18 + Math.floor(next() * 5));
        await tx.messages.append({
          id: newId(),
          conversationId: longConversationId,
          role: i % 2 === 0 ? 'user' : 'assistant',
          content,
          tokens: tokens.count(content) + TOKENS_PER_MESSAGE,
          status: 'complete',
          toolCalls: null,
          toolCallId: null,
          createdAt: at(options.conversations * 60_000 + i * 1000),
        });
      }
      await tx.conversations.touch(longConversationId, at(options.conversations * 60_000 + options.longMessages * 1000));
    });
    return { userId: user.id, conversations: options.conversations, longConversationId, longConversationMessages: options.longMessages };
  } finally {
    await storage.close();
  }
}

/**
 * How long a conversation is now, and how much of its newest history fits the token
 * budget the app sends upstream (approximately the app's own selection: newest first,
 * stored token counts, system prompt and reply priming taken off the budget).
 */
export async function inspectConversation(
  databaseUrl: string,
  conversationId: string,
  options: { historyMaxTokens: number; systemPrompt: string; message: string },
): Promise<{ messages: number; historyMessages: number; historyTokens: number }> {
  const storage = openStorage(databaseUrl, { poolSize: 1 });
  try {
    const tokens = await loadTokenCounter('gpt-4o-mini');
    const fixed = tokens.count(options.systemPrompt) + TOKENS_PER_MESSAGE + 3 + TOKENS_PER_MESSAGE + tokens.count(options.message);
    const budget = options.historyMaxTokens - fixed;
    let messages = 0;
    let historyMessages = 0;
    let historyTokens = 0;
    let full = false;
    let beforeSeq: number | undefined;
    for (;;) {
      const page = await storage.messages.newestFirst(conversationId, { limit: 1000, beforeSeq });
      for (const m of page) {
        messages++;
        if (!full && historyTokens + m.tokens <= budget) {
          historyMessages++;
          historyTokens += m.tokens;
        } else {
          full = true;
        }
      }
      if (page.length < 1000) break;
      beforeSeq = page[page.length - 1]!.seq;
    }
    return { messages, historyMessages, historyTokens };
  } finally {
    await storage.close();
  }
}

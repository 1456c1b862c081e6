/**
 * Token counting with the model family's real BPE (o200k_base for the gpt-4o,
 * gpt-4.1, gpt-5 and o-series families, cl100k_base for gpt-4 / gpt-3.5), and
 * OpenAI's per-message chat overhead. Unknown (local) models are counted with
 * o200k_base: an estimate, but the same one every time.
 */

/** Tokens every chat message costs beyond its content (role and separators). */
export const TOKENS_PER_MESSAGE = 3;
/** Tokens that prime the assistant's reply, once per request. */
export const TOKENS_PER_REPLY = 3;

export interface TokenCounter {
  readonly encoding: 'o200k_base' | 'cl100k_base';
  /** Tokens of `text` alone. */
  count(text: string): number;
  /** Tokens of `text`, or false as soon as it passes `limit` (cheap on huge inputs). */
  countWithin(text: string, limit: number): number | false;
}

type Encoding = TokenCounter['encoding'];

function encodingForModel(model: string): Encoding {
  const name = model.toLowerCase().replace(/^.*\//, '');
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o\d)/.test(name)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|gpt-35|text-embedding|davinci|babbage)/.test(name)) return 'cl100k_base';
  return 'o200k_base';
}

// User text is data: a literal "<|endoftext|>" in it is counted as text, never rejected.
const PLAIN = { disallowedSpecial: new Set<string>() };

export async function loadTokenCounter(model: string): Promise<TokenCounter> {
  const encoding = encodingForModel(model);
  const bpe =
    encoding === 'cl100k_base'
      ? await import('gpt-tokenizer/encoding/cl100k_base')
      : await import('gpt-tokenizer/encoding/o200k_base');
  return {
    encoding,
    count: (text) => bpe.countTokens(text, PLAIN),
    countWithin: (text, limit) => bpe.isWithinTokenLimit(text, limit, PLAIN),
  };
}

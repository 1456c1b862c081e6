import OpenAI from 'openai';
import type { Config } from '../config/config.js';

/**
 * The one OpenAI SDK client, built from config. Undefined when no provider is
 * configured (neither OPENAI_API_KEY nor OPENAI_BASE_URL): model endpoints then
 * answer 503 provider_not_configured while everything else keeps working.
 */
export function createOpenAIClient(config: Config['openai']): OpenAI | undefined {
  if (!config.apiKey && !config.baseURL) return undefined;
  return new OpenAI({
    // Local OpenAI-compatible servers (vLLM, Ollama, the fake) often need no key; the SDK insists on one.
    apiKey: config.apiKey ?? 'no-key',
    ...(config.baseURL && { baseURL: config.baseURL }),
    timeout: config.timeoutMs,
    maxRetries: config.maxRetries,
  });
}

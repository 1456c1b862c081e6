import type OpenAI from 'openai';
import type { Config } from '../config/config.js';
import type { Storage } from '../storage/storage.js';
import { chatModel } from '../upstream/chat-model.js';
import { agentService } from './agent/agent-service.js';
import { taskTools } from './agent/tools.js';
import { chatService } from './chat-service.js';
import { loadTokenCounter } from './token-counter.js';
import { conversationService } from './conversation-service.js';
import { taskService } from './task-service.js';
import { userService } from './user-service.js';

/** The application's services, built once from their dependencies. */
export async function createServices(deps: { config: Config; storage: Storage; openai: OpenAI | undefined }) {
  const { config, storage } = deps;
  const tokens = await loadTokenCounter(config.openai.model);
  const model = chatModel(deps.openai, config.openai);
  const tasks = taskService(storage);
  const chat = chatService({ storage, model, tokens, config });
  return {
    users: userService(storage),
    conversations: conversationService(storage),
    tasks,
    chat,
    agent: agentService({ chat, model, tools: taskTools(tasks), storage, config }),
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;

import type OpenAI from 'openai';
import type { Config } from '../config/config.js';
import type { Storage } from '../storage/storage.js';
import { conversationService } from './conversation-service.js';
import { taskService } from './task-service.js';
import { userService } from './user-service.js';

/** The application's services, built once from their dependencies. */
export function createServices(deps: { config: Config; storage: Storage; openai: OpenAI | undefined }) {
  return {
    users: userService(deps.storage),
    conversations: conversationService(deps.storage),
    tasks: taskService(deps.storage),
  };
}

export type Services = ReturnType<typeof createServices>;

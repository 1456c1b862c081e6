import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import type { UserService } from '../services/user-service.js';
import type { User } from '../storage/storage.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set on every route behind `authenticate`. */
    user: User;
    /** SHA-256 of the caller's API key: per-key limits are counted by it (the key itself is never kept). */
    apiKeyHash: string;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** onRequest hook: resolves `Authorization: Bearer <key>` to a user before the body is read. */
export function authenticate(users: UserService): onRequestAsyncHookHandler {
  return async function (request: FastifyRequest, _reply: FastifyReply) {
    const match = BEARER.exec(request.headers.authorization ?? '');
    const found = match?.[1] ? await users.authenticate(match[1]) : undefined;
    if (!found) throw new UnauthorizedError();
    request.user = found.user;
    request.apiKeyHash = found.keyHash;
  };
}

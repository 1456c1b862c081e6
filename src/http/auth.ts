import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import type { UserService } from '../services/user-service.js';
import type { User } from '../storage/storage.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set on every route behind `authenticate`. */
    user: User;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** onRequest hook: resolves `Authorization: Bearer <key>` to a user before the body is read. */
export function authenticate(users: UserService): onRequestAsyncHookHandler {
  return async function (request: FastifyRequest, _reply: FastifyReply) {
    const match = BEARER.exec(request.headers.authorization ?? '');
    const user = match?.[1] ? await users.authenticate(match[1]) : undefined;
    if (!user) throw new UnauthorizedError();
    request.user = user;
  };
}

import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import { looksLikeJwt, type VerifiedToken } from '../services/jwt-verifier.js';
import type { UserService } from '../services/user-service.js';
import type { User } from '../storage/storage.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set on every route behind `authenticate`. */
    user: User;
    /**
     * What per-credential limits are counted by: SHA-256 of the caller's API key (the key
     * itself is never kept), or `user:<id>` for a caller signed in with a JWT.
     */
    apiKeyHash: string;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * onRequest hook: resolves `Authorization: Bearer <token>` to a user before the body is
 * read. With a JWT verifier (AUTH_JWKS_URL), a token shaped like a JWT is verified and its
 * subject is the user; anything else is looked up as an API key (a key has no dots, so it
 * never looks like a JWT, and a JWT never reaches the key table).
 */
export function authenticate(users: UserService, verifyJwt?: (token: string) => Promise<VerifiedToken>): onRequestAsyncHookHandler {
  return async function (request: FastifyRequest, _reply: FastifyReply) {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedError();
    if (verifyJwt && looksLikeJwt(token)) {
      const { subject, name } = await verifyJwt(token);
      request.user = await users.userOfSubject(subject, name);
      request.apiKeyHash = `user:${request.user.id}`;
      return;
    }
    const found = await users.authenticate(token);
    if (!found) throw new UnauthorizedError();
    request.user = found.user;
    request.apiKeyHash = found.keyHash;
  };
}

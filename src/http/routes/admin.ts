import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError, UnauthorizedError } from '../../errors.js';
import type { UsageService } from '../../services/usage-service.js';
import { usageRangeInput } from '../../services/usage-schemas.js';
import { createUserInput, toLimitChanges, userLimitsInput } from '../../services/user-schemas.js';
import type { UserService } from '../../services/user-service.js';
import type { User } from '../../storage/storage.js';
import { errorResponses, idParams } from '../schemas.js';
import { toUsageRow, usageRow } from './usage.js';

const tags = ['admin'];
const security = [{ adminAuth: [] }];
const BEARER = /^Bearer\s+(\S+)\s*$/i;

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether `given` is the admin key, in constant time: both are hashed first, so the
 * comparison neither stops at the first wrong byte nor depends on the lengths.
 */
function isAdminKey(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

const userBody = z.object({
  id: z.string(),
  name: z.string(),
  created_at: z.string(),
  rate_limit_per_minute: z.number().int().nullable().describe('null: RATE_LIMIT_PER_MINUTE'),
  tokens_per_minute: z.number().int().nullable().describe('null: TOKENS_PER_MINUTE'),
});
const toUserBody = (u: User) => ({
  id: u.id,
  name: u.name,
  created_at: u.createdAt,
  rate_limit_per_minute: u.rateLimitPerMinute ?? null,
  tokens_per_minute: u.tokensPerMinute ?? null,
});
const newKeyBody = z.object({
  api_key: z.string().describe('Shown only this once: it is stored as a hash'),
  key_id: z.string().describe('For DELETE /admin/keys/{key_id}'),
});

/**
 * The admin API: users, their keys and limits, everyone's usage. Enabled by ADMIN_API_KEY
 * (sent as the bearer token); without it every /admin path answers 404, as a route that
 * does not exist. Not behind the users' authentication nor their rate limits.
 */
export function adminRoutes(deps: { adminApiKey: string | undefined; users: UserService; usage: UsageService }): FastifyPluginAsyncZod {
  const { adminApiKey, users, usage } = deps;
  return async (app) => {
    app.addHook('onRequest', async (request) => {
      if (adminApiKey === undefined) throw new NotFoundError('Route');
      const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
      if (!token || !isAdminKey(adminApiKey, token)) throw new UnauthorizedError('Missing or wrong admin key; send Authorization: Bearer <ADMIN_API_KEY>');
    });

    app.post(
      '/admin/users',
      {
        schema: {
          tags,
          security,
          summary: 'Create a user and its first API key',
          body: createUserInput,
          response: { 201: userBody.extend(newKeyBody.shape), ...errorResponses(401, 404, 422) },
        },
      },
      async (request, reply) => {
        const { name, ...limits } = request.body;
        const { user, apiKey, keyId } = await users.createUser(name, toLimitChanges(limits));
        return reply.code(201).send({ ...toUserBody(user), api_key: apiKey, key_id: keyId });
      },
    );

    app.get(
      '/admin/users',
      {
        schema: {
          tags,
          security,
          summary: 'List users',
          response: { 200: z.object({ data: z.array(userBody.extend({ active_keys: z.number().int() })) }), ...errorResponses(401, 404) },
        },
      },
      async () => ({ data: (await users.listUsers()).map((u) => ({ ...toUserBody(u), active_keys: u.activeKeys })) }),
    );

    app.patch(
      '/admin/users/:id',
      {
        schema: {
          tags,
          security,
          summary: "Set or reset a user's limits",
          description: 'A number sets the limit, null resets it to the default, an absent field leaves it. Applies from the next request, on every instance.',
          params: idParams,
          body: userLimitsInput,
          response: { 200: userBody, ...errorResponses(401, 404, 422) },
        },
      },
      async (request) => {
        const user = await users.setLimits(request.params.id, toLimitChanges(request.body));
        if (!user) throw new NotFoundError('User');
        return toUserBody(user);
      },
    );

    app.post(
      '/admin/users/:id/keys',
      {
        schema: {
          tags,
          security,
          summary: 'Create another API key for a user',
          params: idParams,
          body: z.object({}).nullish().describe('Nothing is needed: no body, or {}'),
          response: { 201: newKeyBody, ...errorResponses(401, 404) },
        },
      },
      async (request, reply) => {
        const key = await users.addKey(request.params.id);
        if (!key) throw new NotFoundError('User');
        return reply.code(201).send({ api_key: key.apiKey, key_id: key.keyId });
      },
    );

    app.delete(
      '/admin/keys/:key_id',
      {
        schema: {
          tags,
          security,
          summary: 'Revoke an API key',
          description: 'Takes effect on the next request made with it, on every instance.',
          params: z.object({ key_id: idParams.shape.id }),
          response: { 204: z.null().describe('Revoked'), ...errorResponses(401, 404) },
        },
      },
      async (request, reply) => {
        if (!(await users.revokeKey(request.params.key_id))) throw new NotFoundError('Key');
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/admin/usage',
      {
        schema: {
          tags,
          security,
          summary: "Every user's model usage per day and model",
          querystring: usageRangeInput,
          response: {
            200: z.object({ from: z.string(), to: z.string(), data: z.array(usageRow.extend({ user_id: z.string() })) }),
            ...errorResponses(401, 404, 422),
          },
        },
      },
      async (request) => {
        const range = request.query;
        return { ...range, data: (await usage.report(range)).map((r) => ({ user_id: r.userId, ...toUsageRow(r) })) };
      },
    );
  };
}

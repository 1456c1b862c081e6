import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { isOpenAIPath } from './openai-errors.js';
import { errorBody, eventStream, openaiErrorBody } from './schemas.js';

type Transform = typeof jsonSchemaTransform;
type JsonSchema = Record<string, unknown>;
/** A route's schema as the transform sees it: zod schemas before jsonSchemaTransform, JSON Schema after. */
type RouteSchema = FastifySchema & { hide?: boolean; operationId?: string; response?: Record<string, unknown> };

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
/** Fastify parses a body sent with these (DELETE too, when one is sent): each may answer 400, 413 and 415. */
const PARSES_BODY = new Set([...BODY_METHODS, 'DELETE']);

/** Statuses every /v1 operation can answer (on top of those above and 500), in OpenAI's error object. */
const OPENAI_ERROR_STATUSES = [400, 401, 404, 429, 502, 503, 504];

/**
 * Responses of routes registered without response schemas, by their media types: /metrics
 * (registered with the metrics, see http-metrics.ts) and the /v1 relays, whose bodies are the
 * provider's, passed through as they came. Any other /v1 route without a 2xx schema answers
 * an OpenAI JSON object.
 */
const UNDECLARED_RESPONSES: Record<string, { description: string; content: Record<string, JsonSchema> }> = {
  'GET /metrics': {
    description: 'Prometheus text exposition format',
    content: { 'text/plain': { type: 'string' } },
  },
  'POST /v1/chat/completions': {
    description: 'The chat completion; with `stream: true`, its chunks as server-sent events ending with `data: [DONE]`',
    content: { 'application/json': { type: 'object', additionalProperties: true }, 'text/event-stream': { type: 'string' } },
  },
};
// The Responses API's objects are OpenAI's own (see services/responses), not re-declared here.
UNDECLARED_RESPONSES['POST /v1/responses'] = {
  description: 'The Response object; with `stream: true`, its typed events (`event:` + `data:`) ending with response.completed, response.incomplete or response.failed (a cancelled background response: response.cancelled)',
  content: { 'application/json': { type: 'object', additionalProperties: true }, 'text/event-stream': { type: 'string' } },
};
UNDECLARED_RESPONSES['GET /v1/responses/:id'] = {
  description: 'The Response object; with `stream=true`, the events of a background response after `starting_after`, then live to its end',
  content: { 'application/json': { type: 'object', additionalProperties: true }, 'text/event-stream': { type: 'string' } },
};
const OPENAI_OBJECT = { description: "The provider's answer, relayed", content: { 'application/json': { type: 'object', additionalProperties: true } } };

/**
 * `GET /conversations/:id/messages` → `getConversationsByIdMessages`: a stable camelCase
 * operationId for a route that declares none, so generated clients get method names.
 */
function operationIdOf(method: string, url: string): string {
  const words = url
    .split('/')
    .flatMap((segment) => (segment.startsWith(':') ? ['by', ...wordsOf(segment.slice(1))] : wordsOf(segment)));
  return method.toLowerCase() + (words.length > 0 ? words : ['root']).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}
const wordsOf = (text: string): string[] => text.split(/[^A-Za-z0-9]+/).filter(Boolean);

/**
 * The zod → JSON Schema transform, plus what the routes leave out but the app really does:
 * every operation gets an operationId; every operation may answer 500, and one that parses a
 * body 400 (not JSON), 413 (too large) and 415 (the API parses JSON only), in the error shape
 * of its API (OpenAI's under /v1, with OpenAI's statuses); an event stream is
 * text/event-stream; a 204 has no body.
 */
const documentRoute: Transform = (input) => {
  const schema = (input.schema ?? {}) as RouteSchema;
  if (schema.hide) return jsonSchemaTransform(input);
  const method = [input.route.method].flat()[0]!.toUpperCase();
  const key = `${method} ${input.url}`;
  const openai = isOpenAIPath(input.url);
  const takesBody = BODY_METHODS.has(method);
  const error: z.ZodType = openai ? openaiErrorBody : errorBody;
  const declared = schema.response ?? {};
  const errors: Record<number, z.ZodType> = { 500: error };
  if (PARSES_BODY.has(method)) for (const status of [400, 413, 415]) errors[status] = error;
  if (openai) for (const status of OPENAI_ERROR_STATUSES) errors[status] = error;

  const result = jsonSchemaTransform({ ...input, schema: { ...schema, response: { ...errors, ...declared } } });
  const documented = result.schema as RouteSchema & { response: Record<string, JsonSchema> };
  const responses = documented.response;
  for (const [status, response] of Object.entries(declared)) {
    if (response === eventStream) responses[status] = withContent(responses[status]!, { 'text/event-stream': { type: 'string' } });
  }
  if (responses['204']) responses['204'] = { type: 'null', description: responses['204'].description ?? 'No content' };
  const hasSuccess = Object.keys(declared).some((status) => status.startsWith('2'));
  const undeclared = UNDECLARED_RESPONSES[key] ?? (openai ? OPENAI_OBJECT : undefined);
  if (!hasSuccess && undeclared) responses['200'] = withContent({ description: undeclared.description }, undeclared.content);
  if (openai && takesBody && !documented.body) {
    documented.body = { type: 'object', additionalProperties: true, description: "OpenAI's request object, relayed to the provider as sent" };
  }
  documented.operationId ??= operationIdOf(method, input.url);
  return result;
};

/** A response in @fastify/swagger's own form for media types other than JSON: `content` instead of a schema. */
function withContent(response: JsonSchema, content: Record<string, JsonSchema>): JsonSchema {
  const { description } = response;
  return {
    ...(description !== undefined && { description }),
    content: Object.fromEntries(Object.entries(content).map(([type, schema]) => [type, { schema }])),
  };
}

/** The OpenAPI document (GET /openapi.json) built from the routes' zod schemas, and the reference UI at /docs. */
export async function registerDocs(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'OpenAI backend',
        description: 'Chat, streaming, stored conversations, a task agent and semantic search over any OpenAI-compatible model.',
        version,
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: "An API key from `npm run admin -- create-user NAME` (or POST /admin/users), or a JWT of the app's sign-in when AUTH_JWKS_URL is set",
          },
          adminAuth: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY; without it set, /admin/* answers 404' },
        },
      },
    },
    transform: documentRoute,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

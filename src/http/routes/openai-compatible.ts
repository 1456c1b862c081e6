import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidJsonError } from '../../errors.js';
import type { GatewayService, RelayBody, RelayedAnswer } from '../../services/gateway-service.js';
import { modelCallOptions } from '../model-call-options.js';
import { writeOpenAIStream } from '../sse.js';

/**
 * A /v1 body may be larger than our own API's 1 MiB: chat requests carry images and long
 * documents, and OpenAI takes far more.
 */
export const OPENAI_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

const tags = ['openai-compatible'];
const security = [{ bearerAuth: [] }];
const relayed = 'The request is relayed to the model provider (OPENAI_BASE_URL) as sent, and its answer back as it came.';

/**
 * OpenAI's Chat Completions, Embeddings and Models at /v1, for any OpenAI client: our
 * keys, per-key limits, token budgets, metrics and logs; OpenAI's error objects.
 */
export function openaiCompatibleRoutes(deps: { gateway: GatewayService }): FastifyPluginAsync {
  const { gateway } = deps;
  return async (app) => {
    // The client's bytes are relayed as they came: the parsed JSON travels beside them.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: OPENAI_BODY_LIMIT_BYTES }, (_request, raw, done) => {
      const bytes = raw as Buffer;
      try {
        done(null, { raw: bytes, json: JSON.parse(bytes.toString('utf8')) as unknown } satisfies RelayBody);
      } catch {
        done(new InvalidJsonError(), undefined);
      }
    });

    // A POST with no body at all (no content type, so no parser ran) is as unparseable as a bad one.
    app.addHook('preValidation', async (request) => {
      if (request.method === 'POST' && request.body === undefined) throw new InvalidJsonError();
    });

    const send = (reply: FastifyReply, answer: RelayedAnswer) => reply.type(answer.contentType).send(answer.body);

    app.post(
      '/v1/chat/completions',
      {
        config: { modelCall: true },
        bodyLimit: OPENAI_BODY_LIMIT_BYTES,
        schema: {
          tags,
          security,
          summary: 'OpenAI Chat Completions (plain and stream: true), relayed',
          description: `${relayed} A stream's usage is always accounted; its usage chunk reaches the client only with stream_options.include_usage.`,
        },
      },
      async (request: FastifyRequest, reply) => {
        const answer = await gateway.chatCompletions(request.body as RelayBody, modelCallOptions(request, reply));
        if ('events' in answer) return writeOpenAIStream(request, reply, answer.events, (error) => ({ data: { error } }));
        return send(reply, answer);
      },
    );

    app.post(
      '/v1/embeddings',
      {
        config: { modelCall: true },
        bodyLimit: OPENAI_BODY_LIMIT_BYTES,
        schema: { tags, security, summary: 'OpenAI Embeddings, relayed', description: relayed },
      },
      async (request, reply) => send(reply, await gateway.embeddings(request.body as RelayBody, modelCallOptions(request, reply))),
    );

    app.get('/v1/models', { schema: { tags, security, summary: "The provider's models, relayed" } }, async (request, reply) =>
      send(reply, await gateway.models(undefined, modelCallOptions(request, reply))),
    );

    app.get<{ Params: { id: string } }>(
      '/v1/models/:id',
      { schema: { tags, security, summary: 'One of the provider\'s models, relayed' } },
      async (request, reply) => send(reply, await gateway.models(request.params.id, modelCallOptions(request, reply))),
    );
  };
}

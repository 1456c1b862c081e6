import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import type { StreamHub, StreamPolicy } from '../../streams/stream-hub.js';
import { abortOnDisconnect } from '../client-disconnect.js';
import { errorResponses, eventStream, idParams } from '../schemas.js';
import { writeLoggedStream } from '../sse.js';

/** The body fields of /chat/stream and /agent/stream that choose what a disconnect does. */
export const streamPolicyFields = {
  resumable: z
    .boolean()
    .optional()
    .describe('Keep generating for STREAM_RESUME_GRACE_SECONDS after the last reader leaves, so GET /streams/{id} can resume it'),
  background: z.boolean().optional().describe('Generate to the end whether or not anyone reads; resume with GET /streams/{id}'),
};

export const streamPolicy = (body: { resumable?: boolean | undefined; background?: boolean | undefined }): StreamPolicy =>
  body.background ? 'background' : body.resumable ? 'resumable' : 'default';

const tags = ['streams'];
const security = [{ bearerAuth: [] }];
const seqText = /^\d{1,15}$/;

/** Where a resume starts: `?after=N`, else the `Last-Event-ID` header, else the beginning. */
function resumeAfter(query: string | undefined, header: string | undefined): number {
  const text = query ?? header?.trim();
  if (text === undefined || text === '') return 0;
  if (!seqText.test(text)) {
    throw new ValidationError(query === undefined ? 'Last-Event-ID: must be an event id (an integer)' : 'after: must be an integer ≥ 0');
  }
  return Number(text);
}

export function streamRoutes(deps: { streams: StreamHub }): FastifyPluginAsyncZod {
  const hub = deps.streams;
  return async (app) => {
    app.get(
      '/streams/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Resume a stream: replay its events after an id, then follow it live',
          description:
            'Replays every event after `Last-Event-ID` (or `?after=N`), each with its `id:`, then follows the stream live ' +
            'until [DONE] or its error event. 404 for an unknown stream or another user’s; 410 stream_expired once ' +
            'STREAM_RETENTION_SECONDS have passed after its end.',
          params: idParams,
          querystring: z.object({ after: z.string().optional().describe('Replay events after this id (instead of Last-Event-ID)') }),
          headers: z.object({ 'last-event-id': z.string().optional() }),
          response: { 200: eventStream, ...errorResponses(401, 404, 410, 422) },
        },
      },
      async (request, reply) => {
        const after = resumeAfter(request.query.after, request.headers['last-event-id']);
        await hub.check(request.user.id, request.params.id);
        const disconnected = abortOnDisconnect(reply);
        await writeLoggedStream(request, reply, hub.read(request.user.id, request.params.id, { after, signal: disconnected }), disconnected);
      },
    );

    app.post(
      '/streams/:id/cancel',
      {
        schema: {
          tags,
          security,
          summary: 'Stop a running stream (from any instance); its reply is stored incomplete',
          params: idParams,
          body: z.object({}).nullish().describe('No fields; the body may be omitted'),
          response: {
            200: z.object({
              stream_id: z.string(),
              cancelled: z.boolean().describe('False when the stream had already ended'),
            }),
            ...errorResponses(401, 404, 410, 422),
          },
        },
      },
      async (request) => ({ stream_id: request.params.id, cancelled: await hub.cancel(request.user.id, request.params.id) }),
    );
  };
}

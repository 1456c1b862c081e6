/** GET /v1/models and GET /v1/models/{id}. The list is fixed; chat and embeddings accept any model name. */
import type { ServerResponse } from 'node:http';
import { sendBody, sendError } from './respond.js';

const CREATED = 1_700_000_000;
export const MODEL_IDS = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'text-embedding-3-small',
  'text-embedding-3-large',
  'text-embedding-ada-002',
] as const;

const models = new Map<string, string>(
  MODEL_IDS.map((id) => [id, JSON.stringify({ id, object: 'model', created: CREATED, owned_by: 'fake' })]),
);
const listJson = '{"object":"list","data":[' + [...models.values()].join(',') + ']}';

export function handleListModels(res: ServerResponse): void {
  sendBody(res, 200, listJson);
}

export function handleGetModel(res: ServerResponse, rawId: string): void {
  let id = rawId;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    // keep it raw
  }
  const json = models.get(id);
  if (json === undefined)
    return sendError(res, 404, `The model '${id}' does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found', 'model');
  sendBody(res, 200, json);
}

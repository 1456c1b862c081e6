/**
 * Writing responses: JSON bodies and OpenAI-style errors
 * (`{"error":{"message","type","param","code"}}`), with as little work per call as possible.
 */
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';

const idPrefix = randomBytes(4).toString('hex');
let seq = 0;

/** Cheap unique ids: a per-process random prefix and a counter (e.g. `chatcmpl-1a2b3c4d2f`). */
export function nextId(prefix: string): string {
  seq = (seq + 1) % Number.MAX_SAFE_INTEGER;
  return prefix + idPrefix + seq.toString(36);
}

export interface ErrorInfo {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export function errorJson(e: ErrorInfo): string {
  return JSON.stringify({ error: { message: e.message, type: e.type, param: e.param, code: e.code } });
}

/** Sends a complete JSON (or other) body with content-length, so keep-alive needs no chunked encoding. */
export function sendBody(
  res: ServerResponse,
  status: number,
  body: string,
  extra?: OutgoingHttpHeaders,
  contentType = 'application/json',
): void {
  const headers: OutgoingHttpHeaders = {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'x-request-id': nextId('req_'),
  };
  if (extra !== undefined) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}

export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type = 'invalid_request_error',
  code: string | null = null,
  param: string | null = null,
  extra?: OutgoingHttpHeaders,
): void {
  sendBody(res, status, errorJson({ message, type, param, code }), extra);
}

/** Answer for 204 control endpoints. */
export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

/** The error OpenAI would send for a status, used by status faults and the `[[error:STATUS]]` directive. */
export function defaultError(status: number): ErrorInfo {
  switch (status) {
    case 400:
      return { message: 'Fake bad request (injected).', type: 'invalid_request_error', param: null, code: 'invalid_request' };
    case 401:
      return { message: 'Incorrect API key provided (injected).', type: 'invalid_request_error', param: null, code: 'invalid_api_key' };
    case 403:
      return { message: 'You are not allowed to sample from this model (injected).', type: 'invalid_request_error', param: null, code: 'permission_denied' };
    case 404:
      return { message: 'The model does not exist (injected).', type: 'invalid_request_error', param: null, code: 'model_not_found' };
    case 408:
      return { message: 'Request timed out (injected).', type: 'timeout', param: null, code: 'timeout' };
    case 409:
      return { message: 'Conflict (injected).', type: 'invalid_request_error', param: null, code: 'conflict' };
    case 422:
      return { message: 'Unprocessable entity (injected).', type: 'invalid_request_error', param: null, code: 'unprocessable_entity' };
    case 429:
      return { message: 'Rate limit reached for requests (injected).', type: 'requests', param: null, code: 'rate_limit_exceeded' };
    case 503:
      return { message: 'The engine is currently overloaded, please try again later (injected).', type: 'server_error', param: null, code: 'service_unavailable' };
    default:
      return status >= 500
        ? { message: 'The server had an error while processing your request (injected).', type: 'server_error', param: null, code: 'server_error' }
        : { message: `Injected error ${status}.`, type: 'invalid_request_error', param: null, code: 'injected_error' };
  }
}

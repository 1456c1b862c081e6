import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Callers' ids are echoed only when they are short and plain, so they cannot forge log lines. */
const SAFE_REQUEST_ID = /^[\w.:@-]{1,128}$/;

export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

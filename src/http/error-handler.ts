import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import {
  AppError,
  InternalError,
  InvalidJsonError,
  InvalidUrlError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.js';
import { isAbort } from '../upstream/error-mapping.js';
import { isOpenAIPath, toOpenAIError } from './openai-errors.js';
import { requestId } from './request-id.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Writes an error with x-request-id: the contract's body {"error": {code, message,
 * request_id}}, or OpenAI's error object under /v1 (toOpenAIError).
 */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  reply.headers(error.headers);
  if (isOpenAIPath(request.url)) {
    const { status, error: body } = toOpenAIError(error);
    return reply.code(status).send({ error: body });
  }
  return reply.code(error.status).send({ error: { code: error.code, message: error.message, request_id: String(request.id) } });
}

/** A zod issue as the validation error carries it; a union's has each branch's issues. */
interface Issue {
  code: string;
  path: ReadonlyArray<string | number>;
  message: string;
  errors?: unknown;
}

/**
 * The issue to name for a value no branch of a union took: zod reports the union itself
 * (`input: Invalid input`), OpenAI the field of the branch the value is for
 * (`input[0].output`). That branch is the first whose failures are all inside the value,
 * none at its root (the wrong kind of value) nor at its `type` (another branch's
 * discriminator); its first issue is named, the same way down nested unions. When every
 * branch failed on `type`, the type is what is wrong; when none is left, the union itself.
 */
function branchIssue(issue: Issue): Issue {
  const branches = issue.code === 'invalid_union' && Array.isArray(issue.errors) ? (issue.errors as Issue[][]) : [];
  if (!branches.length) return issue;
  const atRoot = (i: Issue) => i.path.length === 0;
  const atType = (i: Issue) => i.path.length === 1 && i.path[0] === 'type';
  const chosen = branches.find((branch) => branch.length > 0 && !branch.some((i) => atRoot(i) || atType(i)));
  if (chosen) {
    const inner = branchIssue(chosen[0]!);
    return { ...inner, path: [...issue.path, ...inner.path] };
  }
  if (branches.every((branch) => branch.some(atType))) return { ...issue, path: [...issue.path, 'type'] };
  return issue;
}

/** Turns framework errors (body parsing, validation) into the service's vocabulary. */
function toAppError(error: FastifyError | Error, bodyLimit?: number): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as FastifyError).validationContext ?? 'body';
    // Path parameters are ids: one its schema refuses (an empty one, from /tasks//) names nothing.
    if (context === 'params') return new NotFoundError();
    const problems = error.validation.map((failed) => {
      const issue = branchIssue({ code: failed.keyword, path: failed.instancePath.split('/').filter(Boolean), message: failed.message ?? '', errors: failed.params.errors });
      return `${[context, ...issue.path].join('.')}: ${issue.message}`;
    });
    return new ValidationError(problems.join('; '));
  }
  switch ((error as FastifyError).code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidJsonError();
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError(bodyLimit ?? BODY_LIMIT_BYTES);
    case 'FST_ERR_BAD_URL':
      return new InvalidUrlError();
    // An id longer than the router takes is an id that does not exist.
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new NotFoundError();
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError(String((error as FastifyError).message.split(': ').at(-1)));
  }
  // Fastify's own JSON parser reports syntax errors as a 400 SyntaxError.
  if (error instanceof SyntaxError && (error as FastifyError).statusCode === 400) return new InvalidJsonError();
  // Any other 4xx Fastify or one of its plugins raises (@fastify/static refusing a path such as
  // /docs/static/index.html//) is the client's: its status, with a code named after it.
  const { code, statusCode } = error as FastifyError;
  if (code?.startsWith('FST_') && statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    const name = STATUS_CODES[statusCode] ?? 'Client Error';
    return new AppError(statusCode, name.toLowerCase().replace(/[^a-z0-9]+/g, '_'), error.message || name);
  }
  return new InternalError({ cause: error });
}

/**
 * Fastify's `frameworkErrors`: errors the router raises before any hook runs (a malformed
 * URL, an over-long parameter), answered like every other error.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  void sendError(request, reply, toAppError(error));
}

/** How much of a refused request is read for its request line and x-request-id. */
const HEAD_BYTES = 8192;

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refused before any route saw
 * it (headers over the size limit, a Content-Length that is no number, a broken request line)
 * is answered like every other error, when the socket still takes an answer. The request
 * line, as far as it arrived, tells whether the caller speaks OpenAI's format (/v1); a plain
 * x-request-id among the headers that arrived is echoed.
 */
export function clientErrorHandler(this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  // A reset connection is gone: nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const appError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError(431, 'headers_too_large', 'The request headers are larger than the server accepts')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError(408, 'request_timeout', 'The request did not arrive in time')
        : new AppError(400, 'bad_request', 'The request is not valid HTTP (request line, a header or Content-Length)');
  const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined;
  const head = raw ? raw.toString('latin1', 0, Math.min(raw.length, HEAD_BYTES)) : '';
  const path = /^[A-Z]+ (\S+)/.exec(head)?.[1] ?? '';
  const given = /\r\nx-request-id:[ \t]*([^\r\n]*)/i.exec(head)?.[1]?.trim();
  const id = requestId({ headers: { 'x-request-id': given } } as unknown as IncomingMessage);
  const body = JSON.stringify(
    isOpenAIPath(path)
      ? { error: { message: appError.message, type: 'invalid_request_error', param: null, code: appError.code } }
      : { error: { code: appError.code, message: appError.message, request_id: id } },
  );
  this.log.debug({ err: error, request_id: id }, 'client error');
  // As Node itself does: write what the socket still takes, then close it (the rest of the
  // request cannot be read past a parse error).
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status]}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    // A model call cut by its own signal: the client went away (nobody to answer), or a
    // shutdown's grace period ended (the client is told to come back).
    if (isAbort(error)) {
      if (reply.raw.destroyed) return reply.code(499).send();
      return sendError(request, reply, new ServiceUnavailableError('The server is shutting down; try again'));
    }
    const appError = toAppError(error as Error, request.routeOptions.bodyLimit);
    // Only the unexpected is an error; an upstream failure is a warning with its cause (start-up
    // already warned once that no provider is configured).
    if (appError instanceof InternalError) request.log.error({ err: error }, 'request failed');
    else if (appError.status >= 500 && appError.code !== 'provider_not_configured') request.log.warn({ err: error }, 'request failed');
    return sendError(request, reply, appError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new NotFoundError(isOpenAIPath(request.url) ? `Invalid URL (${request.method} ${request.url.split('?')[0]}): route` : 'Route')),
  );
}

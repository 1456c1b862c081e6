import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

/** Turns framework errors (body parsing, validation) into the service's vocabulary. */
export function toAppError(error: FastifyError | Error, bodyLimit?: number): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as FastifyError).validationContext ?? 'body';
    const problems = error.validation.map((issue) => {
      const field = [context, ...issue.instancePath.split('/').filter(Boolean)].join('.');
      return `${field}: ${issue.message}`;
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

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    // A model call cut by its own signal: the client went away (nobody to answer), or a
    // shutdown's grace period ended (the client is told to come back).
    if (isAbort(error)) {
      if (reply.raw.destroyed) return reply.code(499).send();
      return sendError(request, reply, new ServiceUnavailableError('The server is shutting down; try again'));
    }
    const appError = toAppError(error as Error, request.routeOptions.bodyLimit);
    if (appError.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendError(request, reply, appError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new NotFoundError(isOpenAIPath(request.url) ? `Invalid URL (${request.method} ${request.url.split('?')[0]}): route` : 'Route')),
  );
}

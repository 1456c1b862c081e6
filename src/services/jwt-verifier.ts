import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { ServiceUnavailableError, UnauthorizedError } from '../errors.js';

/**
 * Asymmetric algorithms only. Never `none`, and never an HMAC one: with HS256 allowed, a
 * token "signed" with the public key (which anyone can fetch from the JWKS) as its secret
 * would verify.
 */
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Clocks of the app's sign-in and ours may disagree this much on `exp` and `nbf`. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** A cached JWKS is fetched again after this long, rotated keys or not. */
const JWKS_MAX_AGE_MS = 10 * 60_000;
const JWKS_TIMEOUT_MS = 5000;
/**
 * A verified token is trusted again without verifying its signature for this long (never past
 * its `exp`): a signed-in client sends the same token on every request, and a signature check
 * costs more than the rest of authentication. So a key withdrawn from the JWKS stops being
 * honoured within this time, not at once.
 */
const VERIFIED_TTL_MS = 60_000;
/** Verified tokens remembered per instance. */
const VERIFIED_TOKENS = 10_000;
/** Longest `sub` taken: a user column, not a blob. */
const MAX_SUBJECT_LENGTH = 255;

/** Three base64url segments (the last empty for `alg: none`, refused all the same). An API key has no dot. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
export const looksLikeJwt = (token: string): boolean => JWT_SHAPE.test(token);

export interface VerifiedToken {
  subject: string;
  /** A name to give the user when it is created: the token's `name`, else `email`, else its subject. */
  name: string;
}

/**
 * Verifies the app's own JWTs against its key set: signature (a key of the JWKS, fetched
 * once and cached; a token naming an unknown `kid` makes jose fetch it again, at most once per
 * AUTH_JWKS_COOLDOWN_SECONDS), issuer, audience, expiry (required) with a little clock skew. Anything
 * wrong with the token is 401; a key set that cannot be fetched is 503 (no token can be
 * checked, whoever sent it). A verified token is remembered for up to VERIFIED_TTL_MS.
 */
export function jwtVerifier(config: { jwksUrl: string; issuer: string; audience: string[]; cooldownMs: number }) {
  const keys = createRemoteJWKSet(new URL(config.jwksUrl), {
    cooldownDuration: config.cooldownMs,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    timeoutDuration: JWKS_TIMEOUT_MS,
  });
  const verified = new LRUCache<string, VerifiedToken & { until: number }>({ max: VERIFIED_TOKENS });
  return async function verify(token: string): Promise<VerifiedToken> {
    const known = verified.get(token);
    if (known && Date.now() < known.until) return known;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: JWT_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      throw toAuthError(error);
    }
    const subject = payload.sub!;
    if (subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) throw new UnauthorizedError('The token has no usable subject (sub)');
    const claim = (name: string) => (typeof payload[name] === 'string' && payload[name] ? (payload[name] as string).slice(0, 200) : undefined);
    const result = { subject, name: claim('name') ?? claim('email') ?? subject.slice(0, 200) };
    const until = Math.min(Date.now() + VERIFIED_TTL_MS, (payload.exp! + CLOCK_TOLERANCE_SECONDS) * 1000);
    verified.set(token, { ...result, until });
    return result;
  };
}

function toAuthError(error: unknown): Error {
  // The key set itself failed us (unreachable, slow, not 200, not a JWKS; jose throws its bare
  // JOSEError for the middle two): not the caller's fault.
  const keySetFailed =
    !(error instanceof errors.JOSEError) ||
    error.constructor === errors.JOSEError ||
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid;
  if (keySetFailed) {
    return new ServiceUnavailableError('The sign-in key set (AUTH_JWKS_URL) could not be fetched; try again shortly');
  }
  if (error instanceof errors.JWTExpired) return new UnauthorizedError('The token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) return new UnauthorizedError(`The token's ${error.claim} claim is not accepted`);
  return new UnauthorizedError('The token is not valid (signature, algorithm or format)');
}

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A signing key of the test's own, made with jose. */
export async function makeSigningKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A JWKS endpoint over HTTP, as an app's sign-in serves one: keys can be added (rotated in); fetches are counted. */
export interface JwksServer {
  url: string;
  fetches: number;
  publish(key: SigningKey): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: SigningKey[]): Promise<JwksServer> {
  const published = [...keys];
  const state = { fetches: 0 };
  const server = http.createServer((_req, res) => {
    state.fetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return state.fetches;
    },
    publish: (key) => void published.push(key),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export const ISSUER = 'https://auth.example.test/';
export const AUDIENCE = 'openai-backend-test';

/** A token as the app's sign-in would issue it: signed by `key`, for ISSUER and AUDIENCE, valid 10 minutes. */
export function signToken(
  key: SigningKey,
  claims: JWTPayload & { sub: string },
  options: { issuer?: string; audience?: string; expiresAt?: number } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 600)
    .sign(key.privateKey);
}

export const jwtEnv = (jwks: JwksServer) => ({
  AUTH_JWKS_URL: jwks.url,
  AUTH_JWT_ISSUER: ISSUER,
  AUTH_JWT_AUDIENCE: AUDIENCE,
  AUTH_JWKS_COOLDOWN_SECONDS: '0',
});

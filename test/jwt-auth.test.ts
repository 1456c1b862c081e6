/**
 * JWT bearer tokens (AUTH_JWKS_URL): verified against a JWKS server of the test's own, with
 * keys made by jose; the token's `sub` is the user, created once on first sight.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { jwtEnv, makeSigningKey, signToken, startJwksServer, type JwksServer, type SigningKey } from './helpers/jwks-server.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

for (const database of TEST_DATABASES) {
  describe(`JWT bearer tokens (${database.name})`, () => {
    let jwks: JwksServer;
    let key: SigningKey;
    let t: TestApp;
    let base: string;
    before(async () => {
      key = await makeSigningKey('key-1');
      jwks = await startJwksServer([key]);
      t = await createTestApp({ database, env: jwtEnv(jwks) });
      base = await t.listen();
    });
    after(async () => {
      await t.close();
      await jwks.close();
    });

    const get = (token: string, path = '/conversations') => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });

    test('20 concurrent first requests with a new subject all answer 200 and create its user exactly once', async () => {
      const sub = `auth0|${randomUUID()}`;
      const token = await signToken(key, { sub, name: 'Ada' });
      const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await get(token)).status));
      assert.deepEqual(statuses, Array(20).fill(200));
      const users = (await t.storage.users.list()).filter((u) => u.name === 'Ada');
      assert.equal(users.length, 1);
      assert.equal((await t.storage.users.findBySubject(sub))?.id, users[0]!.id);
    });

    test("the token's user is the same user on every request and sees only its own data", async () => {
      const token = await signToken(key, { sub: `user-${randomUUID()}` });
      const created = await fetch(`${base}/conversations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'mine' }),
      });
      assert.equal(created.status, 201);
      const { id } = (await created.json()) as { id: string };
      assert.equal((await get(await signToken(key, { sub: (await jwtSub(token))! }), `/conversations/${id}`)).status, 200);
      const other = await signToken(key, { sub: `user-${randomUUID()}` });
      assert.equal((await get(other, `/conversations/${id}`)).status, 404);
      // API keys keep working beside JWTs.
      const { apiKey } = await t.createUser();
      assert.equal((await get(apiKey)).status, 200);
    });

    test('an expired token answers 401; one expired within the 30 s clock tolerance is accepted', async () => {
      const expired = await signToken(key, { sub: 'late' }, { expiresAt: now() - 120 });
      const res = await get(expired);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
      assert.equal(body.error.code, 'unauthorized');
      assert.match(body.error.message, /expired/);
      assert.ok(body.error.request_id);
      assert.equal((await get(await signToken(key, { sub: 'skewed' }, { expiresAt: now() - 5 }))).status, 200);
    });

    test('wrong issuer, wrong audience, no expiry: 401', async () => {
      assert.equal((await get(await signToken(key, { sub: 'x' }, { issuer: 'https://evil.example/' }))).status, 401);
      assert.equal((await get(await signToken(key, { sub: 'x' }, { audience: 'another-app' }))).status, 401);
      const noExp = await new SignJWT({ sub: 'x' })
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .setIssuer(jwtEnv(jwks).AUTH_JWT_ISSUER)
        .setAudience(jwtEnv(jwks).AUTH_JWT_AUDIENCE)
        .sign(key.privateKey);
      assert.equal((await get(noExp)).status, 401);
    });

    test('a bad signature answers 401: signed by a key not in the set under its kid, or a payload changed after signing', async () => {
      const impostor = await makeSigningKey(key.kid);
      assert.equal((await get(await signToken(impostor, { sub: 'x' }))).status, 401);
      const [header, , signature] = (await signToken(key, { sub: 'honest' })).split('.');
      const forged = `${header}.${b64({ sub: 'admin', iss: jwtEnv(jwks).AUTH_JWT_ISSUER, aud: jwtEnv(jwks).AUTH_JWT_AUDIENCE, exp: now() + 600 })}.${signature}`;
      assert.equal((await get(forged)).status, 401);
    });

    test('alg none is refused', async () => {
      const claims = { sub: 'none', iss: jwtEnv(jwks).AUTH_JWT_ISSUER, aud: jwtEnv(jwks).AUTH_JWT_AUDIENCE, exp: now() + 600 };
      for (const token of [`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`, `${b64({ alg: 'none', kid: key.kid })}.${b64(claims)}.AAAA`]) {
        assert.equal((await get(token)).status, 401);
      }
    });

    test('an HS256 token made with the public key as its secret is refused', async () => {
      const secrets = [JSON.stringify(key.publicJwk), key.publicJwk.n!];
      for (const secret of secrets) {
        const token = await new SignJWT({ sub: 'hmac' })
          .setProtectedHeader({ alg: 'HS256', kid: key.kid })
          .setIssuer(jwtEnv(jwks).AUTH_JWT_ISSUER)
          .setAudience(jwtEnv(jwks).AUTH_JWT_AUDIENCE)
          .setExpirationTime('10m')
          .sign(new TextEncoder().encode(secret));
        assert.equal((await get(token)).status, 401);
      }
    });

    test('a token signed by a rotated-in key (unknown kid) makes the key set be fetched again, and is accepted', async () => {
      assert.equal((await get(await signToken(key, { sub: 'before-rotation' }))).status, 200);
      const fetched = jwks.fetches;
      const rotated = await makeSigningKey('key-2', 'ES256');
      jwks.publish(rotated);
      assert.equal((await get(await signToken(rotated, { sub: 'after-rotation' }))).status, 200);
      assert.equal(jwks.fetches, fetched + 1, 'fetched once more, for the unknown kid');
      assert.equal((await get(await signToken(rotated, { sub: 'after-rotation' }))).status, 200);
      assert.equal(jwks.fetches, fetched + 1, 'then served from the cache');
    });

    test("under /v1 a bad token answers OpenAI's 401 invalid_api_key", async () => {
      const res = await get(await signToken(key, { sub: 'x' }, { audience: 'another-app' }), '/v1/models');
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { code: string; type: string } };
      assert.equal(body.error.code, 'invalid_api_key');
    });
  });
}

/** The `sub` of a token (no verification: the test made it). */
async function jwtSub(token: string): Promise<string | undefined> {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub?: string }).sub;
}

describe('JWT configuration', () => {
  test('AUTH_JWKS_URL needs AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE: one line each', () => {
    assert.throws(
      () => loadConfig({ AUTH_JWKS_URL: 'https://auth.example.test/jwks.json' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.startsWith('AUTH_JWT_ISSUER:')) &&
        error.problems.some((p) => p.startsWith('AUTH_JWT_AUDIENCE:')),
    );
  });

  test('without AUTH_JWKS_URL a JWT is just an unknown API key: 401', async () => {
    const key = await makeSigningKey('k');
    const t = await createTestApp();
    try {
      const res = await t.request({ method: 'GET', url: '/conversations', key: await signToken(key, { sub: 'x' }) });
      assert.equal(res.statusCode, 401);
    } finally {
      await t.close();
    }
  });

  test('a key set that cannot be fetched answers 503, not 401', async () => {
    const key = await makeSigningKey('k');
    const jwks = await startJwksServer([key]);
    const env = jwtEnv(jwks);
    await jwks.close();
    const t = await createTestApp({ env });
    try {
      const res = await t.request({ method: 'GET', url: '/conversations', key: await signToken(key, { sub: 'x' }) });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().error.code, 'service_unavailable');
    } finally {
      await t.close();
    }
  });
});

// An OpenID provider on loopback for the sign-in tests: the certified `oidc-provider` package
// (installed by scripts/test.sh into target/oidc-provider) with one client and three users.
//
//   node provider.mjs            listens on 127.0.0.1:$PORT (0: any free port)
//
// Prints `ISSUER <url>` once listening. Each start generates a fresh RS256 signing key with a
// new key id, so starting it again on the same port is a key rotation at the provider.
//
// Users (any password): alice (group cc-admins), bob (cc-auditors), mallory (students).
// Client: `command-center`, secret `test-secret`, a native client, so its loopback redirect
// URIs match on any port (RFC 8252 §7.3).
//
// For the refusal tests, `POST /_test/fault` with `wrong_audience`, `expired`,
// `bad_signature` or `none` changes the next ID tokens the token endpoint answers (re-signed
// with the provider's own key, except for `bad_signature`).

import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

const require = createRequire(import.meta.url);
const modules = path.resolve(process.env.OIDC_PROVIDER_MODULES || 'target/oidc-provider/node_modules');
const { default: Provider } = await import(require.resolve(path.join(modules, 'oidc-provider')));
const jose = await import(require.resolve(path.join(modules, 'jose')));

const port = Number(process.env.PORT || 0);
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const kid = `k-${randomBytes(6).toString('hex')}`;
const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };

const users = {
  alice: { preferred_username: 'alice', email: 'alice@district.test', groups: ['cc-admins'] },
  bob: { preferred_username: 'bob', email: 'bob@district.test', groups: ['cc-auditors', 'staff'] },
  mallory: { preferred_username: 'mallory', email: 'mallory@district.test', groups: ['students'] },
};

let fault = 'none';

function startServer(issuer) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'command-center',
      client_secret: 'test-secret',
      application_type: 'native',
      redirect_uris: [
        'http://127.0.0.1/login/oidc/test/callback',
        'http://127.0.0.1/api/v1/auth/oidc/test/callback',
      ],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] },
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      profile: ['preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    scopes: ['openid', 'profile', 'email', 'groups'],
    pkce: { required: () => true },
    async findAccount(_ctx, id) {
      const user = users[id];
      if (!user) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...user }; } };
    },
  });
  provider.proxy = false;

  // Test control: faults in the ID tokens the token endpoint answers.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/_test/fault') {
      const chunks = [];
      for await (const c of ctx.req) chunks.push(c);
      fault = JSON.parse(Buffer.concat(chunks).toString()).fault;
      ctx.status = 204;
      return;
    }
    await next();
    if (ctx.path === '/token' && ctx.body && ctx.body.id_token && fault !== 'none') {
      ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, issuer) };
    }
  });
  return provider;
}

async function tamper(token, issuer) {
  if (fault === 'bad_signature') {
    const [h, p, s] = token.split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[0] ^= 0xff;
    return `${h}.${p}.${sig.toString('base64url')}`;
  }
  const claims = jose.decodeJwt(token);
  const now = Math.floor(Date.now() / 1000);
  if (fault === 'wrong_audience') claims.aud = 'another-client';
  if (fault === 'expired') { claims.iat = now - 7200; claims.exp = now - 3600; }
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey);
}

// Bind first to learn the port, then serve the provider under that issuer.
const http = await import('node:http');
const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const provider = startServer(issuer);
server.on('request', provider.callback());
console.log(`ISSUER ${issuer}`);
process.on('SIGTERM', () => process.exit(0));

import request from 'supertest';
import type { DemoHandle } from './demo-app.js';

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

export async function login(demo: DemoHandle, username: string, password = `${username}-password`): Promise<Tokens> {
  const res = await request(demo.server).post('/auth/login').send({ username, password });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${res.text}`);
  return res.body as Tokens;
}

export function me(demo: DemoHandle, accessToken: string) {
  return request(demo.server).get('/me').set('Authorization', `Bearer ${accessToken}`);
}

export function admin(demo: DemoHandle, adminToken: string, method: 'get' | 'post', path: string, body?: object) {
  const req = request(demo.server)[method](path).set('Authorization', `Bearer ${adminToken}`);
  return body ? req.send(body) : req;
}

/** The `jti` of a demo token (read, not verified). */
export function jtiOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { jti: string }).jti;
}

/** An admin token, and two of alice's tokens: `revoked` (its jti revoked through the admin API) and `active`. */
export async function aliceWithARevokedToken(demo: DemoHandle, reason: string): Promise<{ adminToken: string; revoked: string; active: string }> {
  const adminToken = (await login(demo, 'admin')).access_token;
  const revoked = (await login(demo, 'alice')).access_token;
  const active = (await login(demo, 'alice')).access_token;
  const res = await admin(demo, adminToken, 'post', `/admin/tokens/${jtiOf(revoked)}/revoke`, { reason });
  if (res.status !== 200) throw new Error(`revoke: ${res.status} ${res.text}`);
  return { adminToken, revoked, active };
}

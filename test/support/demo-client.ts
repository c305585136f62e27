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

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, TokenService } from '@jwt-defense/core';
import { BackgroundWrites } from '../libs/jwt-defense/src/common/background-writes.js';
import { ADAPTERS } from './support/demo-app.js';
import { FailModeController, fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { writeCountryMmdb } from './support/mmdb.js';

describe.each(ADAPTERS)('the country from a MaxMind database (offline) over %s', (adapter) => {
  let app: INestApplication;
  let token: string;
  beforeAll(async () => {
    const database = join(mkdtempSync(join(tmpdir(), 'jwtd-mmdb-')), 'countries.mmdb');
    writeCountryMmdb(database, { '203.0.113.0/24': 'FR', '198.51.100.0/24': 'BR' });
    app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot(
        fixtureOptions({
          proxy: { trusted: ['127.0.0.1/32', '::1/128', '::ffff:127.0.0.1/128'] },
          risk: { mode: 'enforce', maxmindDatabase: database },
          revocation: { cleanupCron: false },
        }),
      ),
      [FailModeController],
    );
    token = `Bearer ${(await app.get(TokenService).issue('alice')).token}`;
  });
  afterAll(() => app.close());

  const from = (ip: string) => request(app.getHttpServer()).get('/store/closed').set('Authorization', token).set('X-Forwarded-For', ip).set('User-Agent', 'curl/8');

  it('learns the first country, then refuses a jump to another country minutes later', async () => {
    expect((await from('203.0.113.9')).status).toBe(200);
    await app.get(BackgroundWrites).settle();
    expect((await from('203.0.113.200')).status).toBe(200);
    const jump = await from('198.51.100.7');
    expect(jump.status).toBe(403);
    expect(jump.body.code).toBe('risk_denied');
    // An address the database does not know has no country: no country signal.
    expect((await from('192.0.2.1')).status).toBe(200);
  });

  it('refuses to boot on a file that is not a MaxMind database, naming the option', async () => {
    await expect(
      startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ risk: { mode: 'enforce', maxmindDatabase: __filename } })), [FailModeController]),
    ).rejects.toThrow(/risk\.maxmindDatabase could not be opened as a MaxMind database/);
  });
});

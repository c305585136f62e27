import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { Injectable, type OnModuleInit } from '@nestjs/common';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;
const HASH_BYTES = 32;

export interface DemoUser {
  readonly username: string;
  readonly roles: readonly string[];
}

interface StoredUser extends DemoUser {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** The demo's two users. Only scrypt hashes are kept in memory, made once at boot. */
const DEMO_USERS = [
  { username: 'alice', password: 'alice-password', roles: ['user'] },
  { username: 'admin', password: 'admin-password', roles: ['admin'] },
];

@Injectable()
export class UsersService implements OnModuleInit {
  private readonly users = new Map<string, StoredUser>();
  private dummy!: StoredUser;

  async onModuleInit(): Promise<void> {
    for (const { username, password, roles } of DEMO_USERS) {
      const salt = randomBytes(16);
      this.users.set(username, { username, roles, salt, hash: await scrypt(password, salt, HASH_BYTES) });
    }
    const salt = randomBytes(16);
    this.dummy = { username: '', roles: [], salt, hash: await scrypt(randomBytes(16).toString('hex'), salt, HASH_BYTES) };
  }

  /**
   * The user, when the password matches. An unknown user costs the same scrypt as a known one, so
   * response time does not tell which usernames exist.
   */
  async verifyCredentials(username: string, password: string): Promise<DemoUser | undefined> {
    const user = this.users.get(username);
    const stored = user ?? this.dummy;
    const hash = await scrypt(password, stored.salt, HASH_BYTES);
    const matches = timingSafeEqual(hash, stored.hash);
    return user && matches ? { username: user.username, roles: user.roles } : undefined;
  }

  /** The user's roles as they are now (a refresh reads them, so a role change reaches the next access token). */
  findRoles(username: string): readonly string[] | undefined {
    return this.users.get(username)?.roles;
  }

  /** Changes a user's roles (the demo has no admin UI for it; tests use it to show refreshes follow it). */
  setRoles(username: string, roles: readonly string[]): void {
    const user = this.users.get(username);
    if (user) this.users.set(username, { ...user, roles: [...roles] });
  }
}

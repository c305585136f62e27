import { ArrayNotEmpty, IsArray, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { KeyObject } from 'node:crypto';
import { OptionsCheck, optionsError, REQUIRED } from '../common/options.js';
import { keyEncryptionKeyFrom } from './key-sealing.js';

/** The incident toolkit: who counts as an admin during a lockdown, and how rotated keys are shared. */
@OptionsCheck<IncidentOptions>((options, path) => {
  if (options.keyEncryptionKey === undefined) return;
  try {
    keyEncryptionKeyFrom(options.keyEncryptionKey);
  } catch (error) {
    throw optionsError(`${path}.keyEncryptionKey`, (error as Error).message);
  }
})
export class IncidentOptions {
  declare readonly [REQUIRED]?: {};
  /**
   * Roles still served during a `deny-non-admin` lockdown (any one of them). Default `['admin']`.
   */
  @IsArray() @ArrayNotEmpty() @IsString({ each: true }) adminRoles: string[] = ['admin'];
  /**
   * Key-encryption key of the signing keys made by `IncidentService.rotateKey()`: exactly 32 bytes (a Buffer, a
   * secret `KeyObject`, or a base64url/base64 string of 32 bytes). Rotated keys are stored sealed with it
   * (AES-256-GCM), so every instance that has it signs and verifies with them, and the store never holds usable
   * key material. Give every instance the same one. Required to rotate on a shared store (Redis, custom); the memory
   * store (one process) uses a random one when absent. Default: none.
   */
  @IsOptional() keyEncryptionKey?: Buffer | string | KeyObject;
  /**
   * Most signing keys made by rotations that the store keeps, in keys, the one that signs included (the keys of
   * `token.keys` do not count). A rotation beyond it retires the oldest rotated key if no token it signed can still be
   * valid: it stopped signing at least `token.maxAccessTokenTtlSec` + `token.clockToleranceSec` +
   * `revocation.globalStateRefreshMs` ago. Otherwise the rotation is refused with `KeyRingFullException` (409
   * `key_ring_full`): retire a rotated key with `retireKey`, or rotate again later. Default 10; 2 to 100.
   */
  @IsInt() @Min(2) @Max(100) maxRotatedKeys: number = 10;
}

import { Body, Controller, Get, Header, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { CurrentPrincipal, IncidentService, RequireRoles, type AccessTokenPrincipal, type IncidentStatus } from '@jwt-defense/core';
import { JsonOnlyGuard } from '../api/json-only.guard.js';
import { RevokeDto } from '../auth/auth.dto.js';
import { EventExportQueryDto, KidParam, LockdownDto, RevokeBeforeDto } from './ops.dto.js';

/**
 * The incident API (contract part two): admin only; JSON bodies only; every action needs a reason and is recorded with
 * its actor.
 */
@RequireRoles('admin')
@UseGuards(JsonOnlyGuard)
@Controller('admin/incident')
export class IncidentController {
  constructor(private readonly incident: IncidentService) {}

  /** Every token issued at or before `at` (default now; never later than now) is refused on every instance. */
  @Post('revoke-before')
  @HttpCode(200)
  async revokeBefore(@Body() body: RevokeBeforeDto, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const at = body.at === undefined ? undefined : Date.parse(body.at);
    const { notBeforeMs } = await this.incident.revokeBefore(at, { reason: body.reason, actor: admin.sub });
    return { revoked_before: new Date(notBeforeMs).toISOString() };
  }

  /**
   * A new signing key signs from now on, on every instance; the old one stays in the JWKS until retired. Concurrent
   * calls answer one new kid; a full key ring answers 409 `key_ring_full`.
   */
  @Post('rotate-key')
  @HttpCode(200)
  async rotateKey(@Body() body: RevokeDto, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const { kid, previousKid, algorithm } = await this.incident.rotateKey({ reason: body.reason, actor: admin.sub });
    return { kid, previous_kid: previousKid, alg: algorithm };
  }

  /** Tokens signed with `kid` are refused; the key that signs new tokens answers 409 `signing_key_active`. */
  @Post('retire-key/:kid')
  @HttpCode(200)
  async retireKey(@Param() { kid }: KidParam, @Body() body: RevokeDto, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    await this.incident.retireKey(kid, { reason: body.reason, actor: admin.sub });
    return { kid, retired: true };
  }

  /** `step-up` (tokens from before need a new login), `deny-non-admin` (403 `lockdown`) or `off`. */
  @Post('lockdown')
  @HttpCode(200)
  async lockdown(@Body() body: LockdownDto, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const state = await this.incident.setLockdown(body.mode, { reason: body.reason, actor: admin.sub });
    return { mode: state.mode, since: new Date(state.sinceMs).toISOString() };
  }

  /** This instance's incident state: lockdown, signing key, keys (never material), revoke-before epoch. */
  @Get('status')
  status() {
    return toStatusBody(this.incident.status());
  }
}

/** `GET /admin/security-events/export`: the event log as NDJSON for a post-mortem (oldest first). */
@RequireRoles('admin')
@UseGuards(JsonOnlyGuard)
@Controller('admin/security-events')
export class EventExportController {
  constructor(private readonly incident: IncidentService) {}

  @Get('export')
  @Header('content-type', 'application/x-ndjson; charset=utf-8')
  export(@Query() query: EventExportQueryDto): Promise<string> {
    return this.incident.exportEvents({
      type: query.type,
      sub: query.sub,
      limit: query.limit,
      ...(query.since === undefined ? {} : { sinceMs: Date.parse(query.since) }),
    });
  }
}

function toStatusBody(status: IncidentStatus) {
  return {
    lockdown: status.lockdown,
    signing_kid: status.signingKid,
    keys: status.keys.map((key) => ({
      kid: key.kid,
      alg: key.algorithms[0],
      signing: key.signing,
      published: key.published,
      ...(key.retiredAt ? { retired_at: key.retiredAt } : {}),
    })),
    ...(status.revokedBefore ? { revoked_before: status.revokedBefore } : {}),
    store: status.store,
  };
}

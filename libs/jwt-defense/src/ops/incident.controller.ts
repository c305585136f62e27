import { Body, Get, Header, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import type { SecurityEvent } from '../events/security-event.js';
import type { IncidentStatus } from '../incident/incident.service.js';
import { CurrentPrincipal } from '../policy/current-principal.decorator.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { EventsQuery, JtiParam, type Checked, LockdownInput, OpsInputPipe, RevokeBeforeInput, RevokeTokenInput, RevokeUserInput, SubParam } from './ops.inputs.js';
import { OpsServices } from './ops.services.js';

/**
 * The incident API under `{path}` (DESIGN.md, contract parts one and two): the admin roles required, JSON bodies
 * only; every action needs a reason and is recorded with its actor (the admin's `sub`).
 */
export class IncidentController {
  constructor(@Inject(OpsServices) private readonly ops: OpsServices) {}

  /**
   * Every token and session of the user issued up to now is refused from the next request, on every instance. `iss`
   * names an external issuer's user (absent: this module's own user of that `sub`); another issuer: 400.
   */
  @Post('users/:sub/revoke-all')
  @HttpCode(200)
  async revokeAll(@Param(new OpsInputPipe(SubParam)) { sub }: Checked<SubParam>, @Body(new OpsInputPipe(RevokeUserInput)) body: Checked<RevokeUserInput>, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const { notBeforeMs } = await this.ops.incident.revokeUser(sub, { reason: body.reason, actor: admin.sub, iss: body.iss });
    return { sub, ...(body.iss === undefined ? {} : { iss: body.iss }), revoked_before: new Date(notBeforeMs).toISOString() };
  }

  @Post('tokens/:jti/revoke')
  @HttpCode(200)
  async revokeToken(@Param(new OpsInputPipe(JtiParam)) { jti }: Checked<JtiParam>, @Body(new OpsInputPipe(RevokeTokenInput)) body: Checked<RevokeTokenInput>, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const newlyRevoked = await this.ops.incident.revokeToken(jti, { reason: body.reason, sub: body.sub, iss: body.iss, actor: admin.sub });
    return { jti, revoked: true, already_revoked: !newlyRevoked };
  }

  /** Newest first, bounded (default 100, at most 1000). */
  @Get('security-events')
  async securityEvents(@Query(new OpsInputPipe(EventsQuery)) query: Checked<EventsQuery>): Promise<{ events: SecurityEvent[] }> {
    return { events: await this.ops.events.list({ type: query.type, sub: query.sub, limit: query.limit, ...since(query) }) };
  }

  /** The event log as NDJSON for a post-mortem (oldest first). */
  @Get('security-events/export')
  @Header('content-type', 'application/x-ndjson; charset=utf-8')
  exportEvents(@Query(new OpsInputPipe(EventsQuery)) query: Checked<EventsQuery>): Promise<string> {
    return this.ops.incident.exportEvents({ type: query.type, sub: query.sub, limit: query.limit, ...since(query) });
  }

  /** Every token issued at or before `at` (default now; never later than now) is refused on every instance. */
  @Post('incident/revoke-before')
  @HttpCode(200)
  async revokeBefore(@Body(new OpsInputPipe(RevokeBeforeInput)) body: Checked<RevokeBeforeInput>, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const at = body.at === undefined ? undefined : Date.parse(body.at);
    const { notBeforeMs } = await this.ops.incident.revokeBefore(at, { reason: body.reason, actor: admin.sub });
    return { revoked_before: new Date(notBeforeMs).toISOString() };
  }

  /** `step-up` (tokens from before need a new login), `deny-non-admin` (403 `lockdown`) or `off`. */
  @Post('incident/lockdown')
  @HttpCode(200)
  async lockdown(@Body(new OpsInputPipe(LockdownInput)) body: Checked<LockdownInput>, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const state = await this.ops.incident.setLockdown(body.mode, { reason: body.reason, actor: admin.sub });
    return { mode: state.mode, since: new Date(state.sinceMs).toISOString() };
  }

  /** This instance's incident state: lockdown, signing key, keys (never material), revoke-before epoch. */
  @Get('incident/status')
  status() {
    return toStatusBody(this.ops.incident.status());
  }
}

function since(query: Checked<EventsQuery>): { sinceMs?: number } {
  return query.since === undefined ? {} : { sinceMs: Date.parse(query.since) };
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

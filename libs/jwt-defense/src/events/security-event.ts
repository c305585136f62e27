import { randomBytes } from 'node:crypto';

/** Types of security events. A closed set: switch on it in a SIEM forwarder. */
export const SECURITY_EVENT_TYPES = [
  'token_revoked',
  'user_revoked',
  'global_revoked',
  'key_retired',
  'session_revoked',
  'refresh_token_reuse',
  'store_unavailable',
  'store_full',
  'cleanup_failed',
  'rate_limited',
  'risk_step_up',
  'risk_denied',
  'anomaly_detected',
  'background_write_dropped',
  'token_rejected',
  'dpop_proof_invalid',
  'key_rotated',
  'lockdown_changed',
] as const;
export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

/** One entry of the security event log. */
export interface SecurityEvent {
  /** Unique, time-ordered. */
  id: string;
  type: SecurityEventType;
  /** ISO 8601. */
  at: string;
  sub?: string;
  jti?: string;
  ip?: string;
  reason?: string;
  details?: Record<string, string | number | boolean>;
}

export interface SecurityEventQuery {
  type?: SecurityEventType;
  sub?: string;
  /** Default 100, at most 1000. */
  limit: number;
  /** Only events at or after this instant, epoch ms. */
  sinceMs?: number;
}

/** Builds an event (unique, time-ordered id): the one shape the service, the store and the CLI share. */
export function createSecurityEvent(type: SecurityEventType, fields: Omit<SecurityEvent, 'id' | 'at' | 'type'>, nowMs: number, sequence: number): SecurityEvent {
  // Time-ordered and unique across instances: ms time, a per-process sequence, random bits.
  const id = `${nowMs.toString(36).padStart(9, '0')}-${(sequence % 1_679_616).toString(36).padStart(4, '0')}-${randomBytes(4).toString('hex')}`;
  return { id, type, at: new Date(nowMs).toISOString(), ...fields };
}

/** An event as one line of NDJSON (for a SIEM, a post-mortem export). */
export function toNdjsonLine(event: SecurityEvent): string {
  return `${JSON.stringify(event)}\n`;
}

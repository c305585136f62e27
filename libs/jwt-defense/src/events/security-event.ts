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
}

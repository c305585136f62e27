import type { AnomalyCount, AnomalyResult, RequestCheckStore, RiskProfile, RiskRead, UserRateLimitRequest } from '../defense-store.ports.js';
import type { RateLimitResult } from '../../throttling/rate-limit.js';
import { RISK_PART } from '../../risk/risk.check-part.js';
import { DPOP_PART } from '../../dpop/dpop.check-part.js';
import { ANOMALY_PART, STEP_UP_PART } from '../../monitoring/anomaly.check-part.js';
import { REVOCATION_PART } from '../../revocation/revocation.check-part.js';
import { askPart, partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../check-part.js';
import { IP_RATE_PART, type IpRateCount } from '../../throttling/ip-rate.check-part.js';
import { USER_RATE_PART } from '../../throttling/user-rate.check-part.js';

// The contract suite's view of the ONE per-request call: a field per built-in part (internal, as the parts are).

/** What the layers ask of the one call about a token, as the built-in stages ask it (one field per part). */
export interface TokenCheck {
  tag: string;
  sub: string;
  jti: string;
  sid?: string;
  authenticatedAtMs?: number;
  ipRate?: IpRateCount;
  userRate?: UserRateLimitRequest;
  risk?: RiskRead;
  anomaly?: AnomalyCount;
  stepUp?: boolean;
  dpopProof?: { key: string; ttlMs: number };
}

/** The built-in parts' answers, one field each (the revocation facts always). */
export interface TokenFacts {
  jtiRevoked: boolean;
  sessionRevoked: boolean;
  userNotBeforeMs: number;
  ipRate?: RateLimitResult;
  userRate?: RateLimitResult;
  risk?: RiskProfile;
  anomaly?: AnomalyResult;
  stepUpBeforeMs?: number;
  dpopReplayed?: boolean;
}

/** The one call's request with the built-in parts a token's check asks for. */
export function tokenCheckRequest(check: TokenCheck): DefenseCheckRequest {
  const request: DefenseCheckRequest = { tag: check.tag, sub: check.sub, parts: {} };
  if (check.ipRate) askPart(request, IP_RATE_PART, check.ipRate);
  askPart(request, REVOCATION_PART, { jti: check.jti, sid: check.sid, authenticatedAtMs: check.authenticatedAtMs });
  if (check.dpopProof) askPart(request, DPOP_PART, check.dpopProof);
  if (check.userRate) askPart(request, USER_RATE_PART, check.userRate);
  if (check.anomaly) askPart(request, ANOMALY_PART, check.anomaly);
  if (check.stepUp) askPart(request, STEP_UP_PART, true);
  if (check.risk) askPart(request, RISK_PART, check.risk);
  return request;
}

/** The answers of the built-in parts, one field each. */
export function tokenFacts(result: DefenseCheckResult): TokenFacts {
  const facts: TokenFacts = { ...partResult(result, REVOCATION_PART)! };
  const ipRate = partResult(result, IP_RATE_PART);
  if (ipRate) facts.ipRate = ipRate;
  const userRate = partResult(result, USER_RATE_PART);
  if (userRate) facts.userRate = userRate;
  const risk = partResult(result, RISK_PART);
  if (risk) facts.risk = risk;
  const anomaly = partResult(result, ANOMALY_PART);
  if (anomaly) facts.anomaly = anomaly;
  const stepUp = partResult(result, STEP_UP_PART);
  if (stepUp) facts.stepUpBeforeMs = stepUp.stepUpBeforeMs;
  const dpop = partResult(result, DPOP_PART);
  if (dpop) facts.dpopReplayed = dpop.replayed;
  return facts;
}

/** Runs a token's check on `store` (its ONE call) and answers each built-in part's facts. */
export async function checkToken(store: Pick<RequestCheckStore, 'check'>, check: TokenCheck): Promise<TokenFacts> {
  return tokenFacts(await store.check(tokenCheckRequest(check)));
}

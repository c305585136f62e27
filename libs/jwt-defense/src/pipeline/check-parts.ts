import { RISK_PART } from '../risk/risk.check-part.js';
import { DPOP_PART } from '../dpop/dpop.check-part.js';
import { ANOMALY_PART, STEP_UP_PART } from '../monitoring/anomaly.check-part.js';
import { REVOCATION_PART } from '../revocation/revocation.check-part.js';
import type { AnyCheckPart } from '../store/check-part.js';
import { IP_RATE_PART } from '../throttling/ip-rate.check-part.js';
import { USER_RATE_PART } from '../throttling/user-rate.check-part.js';

/** Injection token of the parts of the ONE store call (`AnyCheckPart[]`), in registration order. */
export const CHECK_PARTS = Symbol('JWT_DEFENSE_CHECK_PARTS');

/**
 * The layers' parts of the ONE per-request store call, in registration order (each phase runs them in it): the
 * per-IP count (a remote store's: it counts whatever else refuses), the refusals (revocation, a replayed proof), the
 * reads (the step-up epoch, the context profile), the counts (the per-user limit, the anomaly baseline), the commit
 * (the proof's record). See store/check-part.ts.
 */
export const BUILT_IN_CHECK_PARTS: readonly AnyCheckPart[] = [IP_RATE_PART, REVOCATION_PART, DPOP_PART, USER_RATE_PART, ANOMALY_PART, STEP_UP_PART, RISK_PART] as readonly AnyCheckPart[];

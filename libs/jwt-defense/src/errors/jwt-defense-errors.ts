// The errors of jwt-defense, as ONE namespace: the barrel exports this module as `JwtDefenseErrors` (as jose exports
// its `errors`). Catch them with `instanceof JwtDefenseErrors.X` and switch on `code` (a `DefenseErrorCode`).
export {
  JwtDefenseException,
  MissingTokenException,
  InvalidTokenException,
  InvalidRequestException,
  SubjectRequiredException,
  StepUpRequiredException,
  RiskDeniedException,
  DpopProofException,
  UseDpopNonceException,
  LockdownException,
  SigningKeyActiveException,
  KeyRingFullException,
  InsufficientScopeException,
  DefenseStoreUnavailableException,
  IssuerUnavailableException,
  RateLimitedException,
  TransportNotConfiguredException,
  TokenVerificationError,
  defenseErrorBody,
} from './defense.exceptions.js';
export type { DefenseErrorBody } from './defense.exceptions.js';
export { DEFENSE_ERROR_CODES } from './defense-error-code.js';
export type { TokenErrorCode } from './defense-error-code.js';
// What a store throws when it cannot answer (each layer then applies its fail mode; the filter answers 503).
export { DefenseStoreError, StoreCapacityError } from '../store/defense-store.errors.js';

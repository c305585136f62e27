/** Injection token of the resolved (defaulted, validated, key-imported) options. */
export const JWT_DEFENSE_OPTIONS = Symbol('JWT_DEFENSE_OPTIONS');

/** The validated policy (a NotifierPolicy), loaded once at start from NOTIFIER_POLICY_FILE. */
export const NOTIFIER_POLICY = Symbol('vigil.notifier-policy');

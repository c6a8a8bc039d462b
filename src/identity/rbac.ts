import { JochError } from '../errors.js';

export const ROLES = ['viewer', 'operator', 'approver', 'admin', 'break-glass'] as const;
export type Role = (typeof ROLES)[number];

/** What an admin API call needs. */
export type Permission = 'read' | 'apply' | 'rollback' | 'promote' | 'approve' | 'audit.read' | 'override' | 'rule.disable' | 'secret.rotate';

/**
 * Roles to permissions. Break-glass is its own role: admin does not include it, and it grants
 * nothing but the one-shot override, so the override path always needs a separate binding.
 */
const GRANTS: Readonly<Record<Role, readonly Permission[]>> = {
  viewer: ['read', 'audit.read'],
  operator: ['read', 'apply', 'rollback', 'secret.rotate'],
  approver: ['read', 'promote', 'approve'],
  // Only admin may switch a rule off for a bounded window (emergency policy disable).
  admin: ['read', 'apply', 'rollback', 'promote', 'approve', 'audit.read', 'rule.disable', 'secret.rotate'],
  'break-glass': ['override'],
};

/**
 * Grants a role to subjects (`user:<sub>`, `group:<name>`) for tenants, namespaces and
 * environments. `*` is every value; policies without a namespace need a `*` namespace binding.
 */
export interface RoleBinding {
  readonly subjects: readonly string[];
  readonly role: Role;
  readonly tenants?: readonly string[];
  readonly namespaces: readonly string[];
  readonly environments: readonly string[];
}

/** An authenticated operator. */
export interface Operator {
  readonly id: string;
  readonly issuer: string;
  readonly groups: readonly string[];
}

/** Where a call acts. `null` namespace: a policy without one; `*`: tenant-wide (the audit log). */
export interface Scope {
  readonly tenant: string;
  readonly namespace: string | null | '*';
  readonly environment: string | '*';
}

const covers = (list: readonly string[] | undefined, value: string | null): boolean => list === undefined || list.includes('*') || (value !== null && value !== '*' && list.includes(value));

export function rolesFor(bindings: readonly RoleBinding[], op: Operator, scope: Scope): Role[] {
  const subjects = new Set([`user:${op.id}`, ...op.groups.map((g) => `group:${g}`)]);
  return bindings
    .filter((b) => b.subjects.some((s) => subjects.has(s)))
    .filter((b) => covers(b.tenants ?? ['*'], scope.tenant) && covers(b.namespaces, scope.namespace) && covers(b.environments, scope.environment))
    .map((b) => b.role);
}

/** Throws JOCH_FORBIDDEN (saying which roles would do) unless a binding grants `permission` at `scope`. */
export function authorize(bindings: readonly RoleBinding[], op: Operator, permission: Permission, scope: Scope): Role {
  const role = rolesFor(bindings, op, scope).find((r) => GRANTS[r].includes(permission));
  if (role !== undefined) return role;
  const needed = ROLES.filter((r) => GRANTS[r].includes(permission));
  const where = `tenant "${scope.tenant}", namespace ${scope.namespace === null ? '(none)' : `"${scope.namespace}"`}, environment "${scope.environment}"`;
  throw new JochError('JOCH_FORBIDDEN', `${op.id} may not ${permission} in ${where}`, {}, `needs a binding with role ${needed.join(' or ')} covering that scope`);
}

import { createHash, timingSafeEqual } from 'node:crypto';
import { JochError } from '../errors.js';
import type { OidcVerifier } from './oidc.js';
import { authorize, type Operator, type Permission, type Role, type RoleBinding, type Scope } from './rbac.js';

export const STATIC_ADMIN: Operator = { id: 'static-admin', issuer: 'joch:static-token', groups: [] };

/** Every tenant, namespace and environment: the static token's one binding. */
const STATIC_BINDINGS: readonly RoleBinding[] = [{ subjects: [`user:${STATIC_ADMIN.id}`], role: 'admin', tenants: ['*'], namespaces: ['*'], environments: ['*'] }];

export interface OperatorAuthOptions {
  /** OIDC for operators; when set, the static token is off. */
  readonly oidc?: OidcVerifier;
  /** The embedded default's admin token (admin everywhere). */
  readonly staticToken?: string;
  readonly bindings?: readonly RoleBinding[];
}

/** Authenticates admin API callers and checks their role bindings. */
export class OperatorAuth {
  private readonly tokenDigest: Buffer | undefined;
  private readonly bindings: readonly RoleBinding[];

  constructor(private readonly options: OperatorAuthOptions) {
    this.tokenDigest = options.oidc === undefined && options.staticToken ? digest(options.staticToken) : undefined;
    this.bindings = options.oidc === undefined ? STATIC_BINDINGS : (options.bindings ?? []);
  }

  get mode(): 'oidc' | 'static-token' | 'none' {
    return this.options.oidc ? 'oidc' : this.tokenDigest ? 'static-token' : 'none';
  }

  /** The operator behind an `Authorization: Bearer` header; throws JOCH_AUTH_* otherwise. */
  async authenticate(header: string | undefined): Promise<Operator> {
    if (this.mode === 'none') throw new JochError('JOCH_AUTH_NOT_CONFIGURED', 'the admin API has no operator authentication configured', {}, 'set adminAuth.token (or JOCH_ADMIN_TOKEN) or adminAuth.oidc in the gateway config');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) throw new JochError('JOCH_AUTH_REQUIRED', 'this call needs an Authorization: Bearer token');
    const token = m[1] as string;
    if (this.options.oidc) return this.options.oidc.verify(token);
    if (this.tokenDigest && timingSafeEqual(digest(token), this.tokenDigest)) return STATIC_ADMIN;
    throw new JochError('JOCH_AUTH_INVALID', 'bearer token rejected: it is not the admin token');
  }

  authorize(op: Operator, permission: Permission, scope: Scope): Role {
    return authorize(this.bindings, op, permission, scope);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

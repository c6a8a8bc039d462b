import { createHash } from 'node:crypto';
import { canonicalJson } from '../policy/canonical.js';
import { sideEffectFromAnnotations, type ListedTool } from './mcp.js';

/**
 * MCP server pinning ("rug pull" defence): the first `tools/list` seen from a server is
 * pinned (per tool: name, description hash, input-schema hash, side effect from annotations).
 * A later list that changes a description or schema, adds a tool, or names a tool another
 * server of the same scope already has, is drift: the context of that answer carries
 * `mcp.toolDrift` for policies to deny or annotate, and the list waits as `pending` until an
 * operator accepts it (`joch mcp-pins accept`).
 */

export type ToolDrift = 'changed' | 'new' | 'collision';

export interface PinnedTool {
  readonly name: string;
  readonly descriptionHash: string;
  readonly schemaHash: string;
  readonly sideEffect?: string;
}

export interface PinnedList {
  /** Tenant (or '' for none): pins never cross tenants. */
  readonly scope: string;
  readonly server: string;
  readonly tools: readonly PinnedTool[];
  readonly at: string;
}

export interface ToolChange {
  readonly tool: string;
  /** `removed` only appears in reviews: a tool going away is not drift. */
  readonly drift: ToolDrift | 'removed';
  /** For `collision`: the other server. */
  readonly with?: string;
}

/** Where pins live. The state store (memory or Redis) implements this; so does a JSON file. */
export interface PinStore {
  all(): Promise<{ pinned: PinnedList[]; pending: PinnedList[] }>;
  pin(list: PinnedList): Promise<void>;
  setPending(list: PinnedList): Promise<void>;
  clearPending(scope: string, server: string): Promise<void>;
}

/** What the ext_proc inspector asks, synchronously, on the hot path. */
export interface McpPins {
  observe(server: string, tools: readonly ListedTool[], scope: string): ToolDrift | undefined;
  sideEffect(server: string, tool: string): string | undefined;
}

const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

export function pinTools(tools: readonly ListedTool[]): PinnedTool[] {
  return tools
    .map((t) => {
      const effect = sideEffectFromAnnotations(t.annotations);
      return { name: t.name, descriptionHash: sha(t.description), schemaHash: sha(canonicalJson(t.inputSchema ?? null)), ...(effect !== undefined ? { sideEffect: effect } : {}) };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every change of `next` against the pinned `prev`, and name collisions with other servers' pins. */
export function diffPins(prev: PinnedList, next: readonly PinnedTool[], others: readonly PinnedList[]): ToolChange[] {
  const old = new Map(prev.tools.map((t) => [t.name, t]));
  const out: ToolChange[] = [];
  for (const t of next) {
    const p = old.get(t.name);
    if (p === undefined) out.push({ tool: t.name, drift: 'new' });
    else if (p.descriptionHash !== t.descriptionHash || p.schemaHash !== t.schemaHash) out.push({ tool: t.name, drift: 'changed' });
  }
  out.push(...collisions(prev.scope, prev.server, next, others));
  return out;
}

function collisions(scope: string, server: string, tools: readonly PinnedTool[], others: readonly PinnedList[]): ToolChange[] {
  const out: ToolChange[] = [];
  for (const o of others) {
    if (o.scope !== scope || o.server === server) continue;
    const names = new Set(o.tools.map((t) => t.name));
    for (const t of tools) if (names.has(t.name)) out.push({ tool: t.name, drift: 'collision', with: o.server });
  }
  return out;
}

const SEVERITY: Record<ToolChange['drift'], number> = { changed: 3, collision: 2, new: 1, removed: 0 };

export function worstDrift(changes: readonly ToolChange[]): ToolDrift | undefined {
  let worst: ToolDrift | undefined;
  for (const c of changes) if (c.drift !== 'removed' && (worst === undefined || SEVERITY[c.drift] > SEVERITY[worst])) worst = c.drift;
  return worst;
}

const key = (scope: string, server: string): string => `${scope}\u0000${server}`;

/**
 * Pins held in memory for the hot path, written through to a PinStore. `load()` reads the
 * store once at start-up; a write that fails is reported to `onError` and the in-memory view
 * stays (so a flaky store cannot let a changed list through unflagged).
 */
export class McpPinRegistry implements McpPins {
  private readonly pinned = new Map<string, PinnedList>();
  private readonly pending = new Map<string, PinnedList>();
  /** Writes go to the store one after another, in the order they were decided. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: PinStore,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  async load(): Promise<void> {
    const { pinned, pending } = await this.store.all();
    this.pinned.clear();
    this.pending.clear();
    for (const l of pinned) this.pinned.set(key(l.scope, l.server), l);
    for (const l of pending) this.pending.set(key(l.scope, l.server), l);
  }

  observe(server: string, tools: readonly ListedTool[], scope: string): ToolDrift | undefined {
    const next = pinTools(tools);
    const list: PinnedList = { scope, server, tools: next, at: this.now().toISOString() };
    const prev = this.pinned.get(key(scope, server));
    if (prev === undefined) {
      // Trust on first use, unless the new server shadows another's tool names.
      const clash = worstDrift(collisions(scope, server, next, [...this.pinned.values()]));
      if (clash !== undefined) {
        this.pending.set(key(scope, server), list);
        this.write(() => this.store.setPending(list));
        return clash;
      }
      this.pinned.set(key(scope, server), list);
      this.write(() => this.store.pin(list));
      return undefined;
    }
    const drift = worstDrift(diffPins(prev, next, [...this.pinned.values()]));
    if (drift !== undefined) {
      this.pending.set(key(scope, server), list);
      this.write(() => this.store.setPending(list));
    }
    return drift;
  }

  sideEffect(server: string, tool: string): string | undefined {
    for (const l of this.pinned.values()) if (l.server === server) return l.tools.find((t) => t.name === tool)?.sideEffect;
    return undefined;
  }

  /** Resolves when every write so far has reached the store (or failed and been reported). */
  flush(): Promise<void> {
    return this.writes;
  }

  private write(op: () => Promise<void>): void {
    this.writes = this.writes.then(op).catch(this.onError);
  }
}

/** Pins in process memory: the embedded default, and the reference for the store contract. */
export class MemoryPinStore implements PinStore {
  protected pinned = new Map<string, PinnedList>();
  protected pendingLists = new Map<string, PinnedList>();

  all(): Promise<{ pinned: PinnedList[]; pending: PinnedList[] }> {
    return Promise.resolve({ pinned: [...this.pinned.values()], pending: [...this.pendingLists.values()] });
  }

  pin(list: PinnedList): Promise<void> {
    this.pinned.set(key(list.scope, list.server), list);
    this.pendingLists.delete(key(list.scope, list.server));
    return Promise.resolve();
  }

  setPending(list: PinnedList): Promise<void> {
    this.pendingLists.set(key(list.scope, list.server), list);
    return Promise.resolve();
  }

  clearPending(scope: string, server: string): Promise<void> {
    this.pendingLists.delete(key(scope, server));
    return Promise.resolve();
  }
}

/** Review: what changed between a server's pinned list and its pending one. */
export function reviewPending(pinned: readonly PinnedList[], pending: PinnedList): ToolChange[] {
  const prev = pinned.find((p) => p.scope === pending.scope && p.server === pending.server) ?? { ...pending, tools: [] };
  const removed = prev.tools.filter((t) => !pending.tools.some((n) => n.name === t.name)).map((t): ToolChange => ({ tool: t.name, drift: 'removed' }));
  return [...diffPins(prev, pending.tools, pinned), ...removed];
}

/** Accepts a server's pending list: it becomes the pinned one. False when nothing is pending. */
export async function acceptPending(store: PinStore, scope: string, server: string): Promise<boolean> {
  const { pending } = await store.all();
  const list = pending.find((p) => p.scope === scope && p.server === server);
  if (list === undefined) return false;
  await store.pin(list);
  await store.clearPending(scope, server);
  return true;
}

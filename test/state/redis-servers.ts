import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from './redis-helpers.js';

/** Why real Redis topologies cannot be started here, or undefined when they can. */
export function topologiesUnavailable(): string | undefined {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `${bin} is not installed (apt-get install redis-server redis-tools)`;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** redis-server processes on loopback, each in its own directory under one temp dir. */
export class RedisServers {
  private readonly dir = mkdtempSync(join(tmpdir(), 'joch-redis-'));
  private readonly children: ChildProcess[] = [];

  /** Starts `redis-server` with `args` (a config file's lines, `--sentinel` mode when asked); resolves once it answers PING. */
  async start(lines: readonly string[], options: { sentinel?: boolean } = {}): Promise<number> {
    const port = await freePort();
    const home = mkdtempSync(join(this.dir, `${port}-`));
    const conf = join(home, 'redis.conf');
    writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${home}`, 'save ""', 'appendonly no', 'protected-mode yes', ...lines].join('\n') + '\n');
    const child = spawn('redis-server', [conf, ...(options.sentinel ? ['--sentinel'] : [])], { stdio: 'ignore' });
    this.children.push(child);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await eventually(async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      }, 10_000, `redis-server on ${port}`);
    } finally {
      probe.disconnect();
    }
    return port;
  }

  /** Stops every server (SIGKILL after a grace period) and removes the temp dir. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const force = setTimeout(() => c.kill('SIGKILL'), 3000);
            c.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A master, one replica and one sentinel watching them as `name`. */
export async function startSentinel(servers: RedisServers, name: string): Promise<{ sentinel: number; master: number; replica: number }> {
  const master = await servers.start([]);
  const replica = await servers.start([`replicaof 127.0.0.1 ${master}`]);
  const sentinel = await servers.start([`sentinel monitor ${name} 127.0.0.1 ${master} 1`, `sentinel down-after-milliseconds ${name} 5000`], { sentinel: true });
  const s = new Redis({ port: sentinel, host: '127.0.0.1' });
  try {
    await eventually(async () => {
      const [host, port] = (await s.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null ?? [];
      return host === '127.0.0.1' && Number(port) === master;
    }, 10_000, 'the sentinel to know the master');
  } finally {
    s.disconnect();
  }
  return { sentinel, master, replica };
}

/** Three masters (no replicas) joined with `redis-cli --cluster create`, every slot covered. */
export async function startCluster(servers: RedisServers): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) ports.push(await servers.start(['cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout 5000']));
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
  for (const port of ports) {
    const r = new Redis({ port, host: '127.0.0.1' });
    try {
      await eventually(async () => /cluster_state:ok/.test(String(await r.call('CLUSTER', 'INFO'))), 15_000, `cluster state ok on ${port}`);
    } finally {
      r.disconnect();
    }
  }
  return ports;
}

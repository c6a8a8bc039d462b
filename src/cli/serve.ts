import { configFromEnv, readConfigFile, resolveConfig, type ConfigInput } from '../config.js';
import { JochError } from '../errors.js';
import { startCluster } from '../cluster/primary.js';
import { gatewayLogger, startGateway } from '../main.js';
import { parseVerbArgs } from './args.js';
import { Exit, type CliIO } from './io.js';

export const serveHelp = `Usage: joch serve [-f PATH ...] [--grpc HOST:PORT] [--http HOST:PORT]
                  [--admin HOST:PORT] [--config FILE] [--default-decision allow|deny]
                  [--log-level LEVEL] [--workers N|auto]

Starts the gateway on its embedded defaults (in-memory state, policies from a folder):
  - gRPC for Envoy: envoy.service.auth.v3.Authorization/Check (ext_authz HTTP and network
    filters), envoy.service.ext_proc.v3.ExternalProcessor/Process (ext_proc: bodies) and
    grpc.health.v1.Health;
  - the HTTP authorization service mode (Envoy http_service, nginx auth_request) on its own
    data-plane port, under a path prefix (default /authz);
  - the admin server: GET /healthz, /readyz (ready once policies are loaded and every
    server is bound), /metrics (Prometheus), and the operators' API under /v1 (policies:
    validate, apply, list, get, history, diff, rollback, promote; audit: query, export,
    verify, checkpoints; secrets: list, rotate; approvals: list, approve, reject;
    break-glass overrides; emergency rule disables), authenticated by OIDC or the static
    admin token (adminAuth in the config file, or JOCH_ADMIN_TOKEN).
Secret resources in the policy folders are resolved at start (Vault, Kubernetes, AWS,
files, environment) and injected where policies say; logs redact secret values and
secret-shaped strings.
Every decision and every admin call is a hash-chained audit record. State is in memory by
default; store.url in the config file (or JOCH_STORE_URL=redis://host:port) shares it
through Redis, and policySource: {kind: store} makes replicas follow stored policy versions.
Invalid policies stop the start with every problem listed. Policy files are reloaded when
they change; a broken edit keeps the last good set and logs the exact errors. SIGTERM or
SIGINT stops accepting, finishes in-flight calls and exits 0.

With --workers N (N > 1) this process keeps the state (store, audit chain, policies) and the
admin server, and accepts the gRPC and HTTP connections, handing each to the one of N worker
processes with the fewest open; the workers decide: in memory mode they use this process's
store; audit records all come here; a worker that dies is replaced; /metrics sums the
workers' figures. See README "Using every core".

  -f, --file PATH            policy file or folder; repeatable (default: policies;
                             also JOCH_POLICIES, comma-separated)
      --grpc HOST:PORT       gRPC server (default 127.0.0.1:9001; also JOCH_GRPC)
      --http HOST:PORT       HTTP authz server (default 127.0.0.1:9002; also JOCH_HTTP)
      --admin HOST:PORT      admin server (default 127.0.0.1:9901; also JOCH_ADMIN)
      --config FILE          YAML config file (schema: src/config.schema.json); flags
                             override JOCH_* variables, which override the file
      --default-decision D   decision when no rule fires: allow (default) or deny;
                             also JOCH_DEFAULT_DECISION
      --log-level LEVEL      fatal, error, warn, info (default), debug, trace, silent;
                             also JOCH_LOG_LEVEL
      --workers N|auto       processes serving Envoy: 1 (default), N, or auto (one per
                             core); also JOCH_WORKERS
  -h, --help                 show this help
`;

export async function serve(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs(
    'serve',
    argv,
    {
      grpc: { type: 'string' },
      http: { type: 'string' },
      admin: { type: 'string' },
      config: { type: 'string' },
      'default-decision': { type: 'string' },
      'log-level': { type: 'string' },
      workers: { type: 'string' },
    },
    false,
  );
  let gateway;
  try {
    const flags: ConfigInput = {
      ...(paths.length > 0 ? { policies: paths } : {}),
      ...(values.grpc !== undefined ? { grpc: values.grpc } : {}),
      ...(values.http !== undefined ? { http: values.http } : {}),
      ...(values.admin !== undefined ? { admin: values.admin } : {}),
      ...(values['default-decision'] !== undefined ? { defaultDecision: values['default-decision'] } : {}),
      ...(values['log-level'] !== undefined ? { logLevel: values['log-level'] } : {}),
      ...(values.workers !== undefined ? { workers: values.workers } : {}),
    };
    const layers = [values.config === undefined ? {} : readConfigFile(values.config), configFromEnv(process.env), flags];
    const config = resolveConfig(...layers);
    gateway = config.workers > 1 ? await startCluster(layers, config, gatewayLogger(config)) : await startGateway(config, gatewayLogger(config));
  } catch (err) {
    io.err(`joch serve: ${err instanceof JochError ? err.format() : `cannot start: ${(err as Error).message}`}\n`);
    return Exit.problems;
  }
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  io.err(`joch serve: ${signal}: draining and shutting down\n`);
  await gateway.close();
  return Exit.ok;
}

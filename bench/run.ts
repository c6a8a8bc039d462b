// `npm run bench`: every benchmark, printing figures and ratios against same-run baselines.
import { cpus } from 'node:os';
import { run as policyEval } from './policy-eval.js';

console.log(`joch benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`);
policyEval();
await (await import('./secrets.js')).run();
(await import('./scan.js')).run();
await (await import('./check-grpc.js')).run();
await (await import('./audit.js')).run();
await (await import('./ext-proc.js')).run();

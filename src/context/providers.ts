import { compileGlob } from '../policy/glob.js';

/**
 * Model provider API hosts. A call to one of these is a model call (hook `message`, with
 * `model.provider` set); the gateway config can add more (`providers:`), so a new provider
 * is configuration, not code. Host globs follow policy host-glob rules.
 */
export const DEFAULT_PROVIDER_HOSTS: Readonly<Record<string, readonly string[]>> = {
  openai: ['api.openai.com'],
  anthropic: ['api.anthropic.com'],
  google: ['generativelanguage.googleapis.com', 'aiplatform.googleapis.com', '*-aiplatform.googleapis.com'],
  'azure-openai': ['*.openai.azure.com'],
  'aws-bedrock': ['bedrock-runtime.*.amazonaws.com'],
  mistral: ['api.mistral.ai'],
  cohere: ['api.cohere.com', 'api.cohere.ai'],
  groq: ['api.groq.com'],
  together: ['api.together.xyz'],
  deepseek: ['api.deepseek.com'],
  xai: ['api.x.ai'],
  openrouter: ['openrouter.ai'],
};

export type ProviderMatcher = (host: string) => string | undefined;

/** Compiles provider host tables once; the result maps a normalised host to its provider. */
export function providerMatcher(tables: readonly Readonly<Record<string, readonly string[]>>[]): ProviderMatcher {
  const exact = new Map<string, string>();
  const globs: [(h: string) => boolean, string][] = [];
  for (const table of tables) {
    for (const [provider, hosts] of Object.entries(table)) {
      for (const host of hosts) {
        if (host.includes('*')) globs.push([compileGlob(host.toLowerCase(), 'host'), provider]);
        else exact.set(host.toLowerCase(), provider);
      }
    }
  }
  return (host) => exact.get(host) ?? globs.find(([g]) => g(host))?.[1];
}

/** The model named in a provider's URL, where the API puts it there (Gemini, Bedrock). */
export function modelFromPath(provider: string, path: string): string | undefined {
  const clean = path.split('?')[0] ?? path;
  if (provider === 'google') return /\/models\/([^/:]+)/.exec(clean)?.[1];
  if (provider === 'aws-bedrock') return /\/model\/([^/]+)\//.exec(clean)?.[1];
  return undefined;
}

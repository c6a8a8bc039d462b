import { scanEncoded } from './encoded.js';
import { scanExfiltration } from './exfil.js';
import { scanCssHidden, scanHtmlComments, scanInvisible } from './hidden.js';
import { lowerForScan } from './lower.js';
import { scanPhrases } from './phrases.js';
import type { PhraseMatch } from './phrases.js';
import type { Detector, Finding, ScanOptions } from './types.js';

/**
 * Prompt injection and tool poisoning in tool results, MCP results, fetched pages and tool
 * descriptions. Types: INSTRUCTION_OVERRIDE (override phrasing in many languages, mode
 * switches, prompt leaks), ROLE_SPOOFING (chat-template tokens, role headers and tags),
 * TOOL_HIJACK ("call the X tool with …"), TOOL_POISONING (concealment, sensitive files),
 * EXFILTRATION (markdown images and links off the allow-list, "send the API key to …"),
 * HIDDEN_CONTENT (invisible characters, HTML comments, CSS-hidden text) and
 * ENCODED_INSTRUCTION (base64 or hex that decodes to any of these).
 */
export const injectionDetector: Detector = {
  class: 'injection',
  scan(text: string, options?: ScanOptions): Finding[] {
    const lower = lowerForScan(text);
    const phrases: PhraseMatch[] = [];
    scanPhrases(lower, phrases);
    return injectionFindings(text, lower, phrases, undefined, options);
  },
};

/**
 * Every injection finding in `text` (lower-cased: `lower`), given its phrase matches and, when
 * a shared word pass found them already, its CSS-hidden elements.
 */
export function injectionFindings(
  text: string,
  lower: string,
  phrases: readonly PhraseMatch[],
  cssHidden: readonly Finding[] | undefined,
  options?: ScanOptions,
): Finding[] {
  const out: Finding[] = [];
  for (const p of phrases) out.push({ class: 'injection', ...p });
  scanInvisible(text, out);
  scanHtmlComments(lower, out);
  if (cssHidden === undefined) scanCssHidden(lower, out);
  else for (const f of cssHidden) out.push(f);
  scanExfiltration(text, lower, out, options);
  scanEncoded(text, lower, out);
  return out;
}

import type { Detector, Finding } from './types.js';

interface InjectionRule {
  readonly rule: string;
  readonly score: number;
  /** Global and case-insensitive. */
  readonly re: RegExp;
}

// Linear despite `\s+`: every whitespace run is followed by a fixed word, so a failing
// attempt backs off over that run once, and only a bounded number of attempts (one per
// word of the phrase) can reach any given run.
const RULES: readonly InjectionRule[] = [
  {
    rule: 'injection.ignore-previous',
    score: 0.9,
    re: /\bignore\s+(?:(?:all|any)\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|prompts|rules|messages)\b/gi,
  },
  {
    rule: 'injection.disregard-previous',
    score: 0.9,
    re: /\bdisregard\s+(?:(?:all|any)\s+)?(?:previous|prior|above|your)\s+(?:instructions|rules|guidelines)\b/gi,
  },
  {
    rule: 'injection.forget-previous',
    score: 0.9,
    re: /\bforget\s+(?:all|everything)\s+(?:you\s+were\s+told|previous\s+instructions)\b/gi,
  },
  {
    rule: 'injection.mode-switch',
    score: 0.9,
    re: /\byou\s+are\s+now\s+(?:in\s+)?(?:developer\s+mode|jailbreak(?:\s+mode)?|jailbroken|dan)\b/gi,
  },
  { rule: 'injection.reveal-system-prompt', score: 0.9, re: /\breveal\s+(?:your|the)\s+system\s+prompt\b/gi },
  { rule: 'injection.new-instructions', score: 0.7, re: /\bnew\s+instructions\s*:/gi },
  // Chat-template control markers have no business in tool arguments or fetched content.
  { rule: 'injection.chatml-system', score: 0.8, re: /<\|im_start\|>\s*system\b/gi },
  { rule: 'injection.inst-marker', score: 0.8, re: /\[INST\]/gi },
  // Only as a role header ("### System:" or a line of its own), not a Markdown "### System requirements".
  { rule: 'injection.markdown-system', score: 0.6, re: /###[ \t]*system[ \t]*(?::|$)/gim },
];

/** Every rule's match contains one of these words: one pass finds texts no rule can match. */
const TRIGGER = /ignore|disregard|forget|you\s+are\s+now|reveal|instructions|<\|im_start\|>|\[inst\]|###/i;

/** Well-known prompt-injection phrases and chat-template role markers (English only for now). */
export const injectionDetector: Detector = {
  class: 'injection',
  scan(text: string): Finding[] {
    const out: Finding[] = [];
    if (!TRIGGER.test(text)) return out;
    for (const { rule, score, re } of RULES) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        out.push({ class: 'injection', type: 'INJECTION', start: m.index, end: m.index + m[0].length, score, rule });
      }
    }
    return out;
  },
};

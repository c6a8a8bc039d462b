import { literalsSource } from './literals.js';
import { MAX_PHRASE, PHRASE_RULES } from './phrase-rules.js';
import type { PhraseRule, PhraseType } from './phrase-rules.js';

/** What a phrase that is quoted, cited or negated scores: below DEFAULT_MIN_SCORE, still visible to annotate. */
export const MENTION_SCORE = 0.35;

export interface PhraseMatch {
  readonly type: PhraseType;
  readonly rule: string;
  readonly start: number;
  readonly end: number;
  readonly score: number;
}

const RULES_OF = new Map<string, PhraseRule[]>();
for (const r of PHRASE_RULES) for (const a of r.anchors) RULES_OF.set(a, [...(RULES_OF.get(a) ?? []), r]);
// An anchor regex reports the longest anchor at a position, so each anchor also carries the
// rules of the anchors it starts with ('ignorez' those of 'ignore'); and the scan resumes one
// character after each hit, so anchors starting inside another are found too.
const BY_ANCHOR = new Map<string, PhraseRule[]>();
for (const a of RULES_OF.keys()) {
  const rules = new Set<PhraseRule>();
  for (const [b, rs] of RULES_OF) if (a.startsWith(b)) for (const r of rs) rules.add(r);
  BY_ANCHOR.set(a, [...rules]);
}
// Three passes, each cheap for V8: ASCII word anchors behind \b (only word starts are tried),
// ASCII anchors that start with punctuation (rare first characters), and the non-ASCII
// anchors. The word-anchor pass is shared with other detectors' word-start literals (see
// word-pass.ts), so it is exported as a list and a hit handler rather than run here.
const isAscii = (a: string): boolean => /^[\x00-\x7f]*$/.test(a);
const anchors = [...BY_ANCHOR.keys()];
export const WORD_ANCHORS: readonly string[] = anchors.filter((a) => isAscii(a) && /^[a-z]/.test(a));
const WORD_ANCHOR_RE = new RegExp(`\\b${literalsSource(WORD_ANCHORS)}`, 'g');
const MARK_ANCHORS = new RegExp(literalsSource(anchors.filter((a) => isAscii(a) && !/^[a-z]/.test(a))), 'g');
const otherAnchors = anchors.filter((a) => !isAscii(a));
const OTHER_ANCHORS = new RegExp(literalsSource(otherAnchors), 'gu');
// On a one-byte string V8 dismisses at once a pattern whose every match starts above U+00FF;
// the anchors that start lower each contain one of LATIN_MARKS, which indexOf rules out cheaply.
const WIDE_ANCHORS = new RegExp(literalsSource(otherAnchors.filter((a) => a.charCodeAt(0) > 0xff)), 'gu');
const LATIN_MARKS = [...new Set(otherAnchors.filter((a) => a.charCodeAt(0) <= 0xff).map((a) => [...a].find((ch) => !isAscii(ch))!))];

/** The phrase rules to try where word anchor `anchor` (the longest at that place) was found. */
export function rulesOfAnchor(anchor: string): readonly PhraseRule[] {
  return BY_ANCHOR.get(anchor) ?? [];
}

// The text a rule looks at around an anchor: the longest match, plus a little context on
// each side for look-behinds and look-aheads. Matches must contain the anchor.
const CONTEXT = 24;

/**
 * Collects phrase matches over the anchor passes of one text. The cost is, per anchor
 * occurrence, one sticky attempt of each of its rules (or, for inner-anchored rules, a search
 * of a window of at most 2 × MAX_PHRASE characters): bounded work per anchor, so linear.
 */
export class PhraseCollector {
  /** rule:start:end of each match reported: a rule with anchors in two passes can find a match twice. */
  private seen: Set<string> | undefined;
  /** Per rule (by index), where its last match in the current pass ended: later anchors inside it are done. */
  private doneUpTo: number[] = [];

  constructor(
    private readonly lower: string,
    readonly out: PhraseMatch[],
  ) {}

  /** Starts a new anchor pass. */
  pass(): void {
    this.doneUpTo = [];
  }

  /** The anchor whose rules are `rules` starts at `p`; anchors must be visited in order within a pass. */
  hit(p: number, rules: readonly PhraseRule[]): void {
    const lower = this.lower;
    for (const rule of rules) {
      if (p < (this.doneUpTo[rule.index] ?? 0)) continue;
      const found = rule.anchored ? matchAt(rule, lower, p) : matchAround(rule, lower, p);
      if (found === undefined) continue;
      this.doneUpTo[rule.index] = found.end;
      const key = `${found.rule}:${found.start}:${found.end}`;
      this.seen ??= new Set();
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.out.push({ ...found, score: rule.contextual && isMention(lower, found.start, found.end) ? MENTION_SCORE : rule.score });
    }
  }

  /** Every anchor of `re` (global) in order, each position tried, so anchors inside others are found. */
  run(re: RegExp): void {
    this.pass();
    const lower = this.lower;
    re.lastIndex = 0;
    for (let m = re.exec(lower); m !== null; m = re.exec(lower)) {
      re.lastIndex = m.index + 1;
      this.hit(m.index, rulesOfAnchor(m[0]));
    }
  }

  /** The punctuation-led and non-ASCII anchor passes; the word-anchor pass is the caller's. */
  runOthers(): void {
    this.run(MARK_ANCHORS);
    this.run(LATIN_MARKS.some((ch) => this.lower.includes(ch)) ? OTHER_ANCHORS : WIDE_ANCHORS);
  }
}

/** Every phrase rule's matches in `lower` (lower-cased text), each reported once. */
export function scanPhrases(lower: string, out: PhraseMatch[]): void {
  const c = new PhraseCollector(lower, out);
  c.run(WORD_ANCHOR_RE);
  c.runOthers();
}

function matchAt(rule: PhraseRule, lower: string, p: number): { type: PhraseType; rule: string; start: number; end: number } | undefined {
  rule.re.lastIndex = p;
  // test() rather than exec(): no match array to build; a sticky match ends at lastIndex.
  return rule.re.test(lower) ? { type: rule.type, rule: rule.rule, start: p, end: rule.re.lastIndex } : undefined;
}

function matchAround(rule: PhraseRule, lower: string, p: number): { type: PhraseType; rule: string; start: number; end: number } | undefined {
  const from = Math.max(0, p - rule.reach - CONTEXT);
  // A match that starts at or before p reads nothing past p + rule.span, so the window ends
  // there (plus CONTEXT): every start the search tries after p is wasted work.
  const window = lower.slice(from, Math.min(lower.length, p + rule.span + CONTEXT));
  const re = rule.re;
  re.lastIndex = Math.max(0, p - rule.reach - from);
  for (let m = re.exec(window); m !== null; m = re.exec(window)) {
    const start = from + m.index;
    const end = start + m[0].length;
    if (start > p) return undefined;
    if (end > p) return { type: rule.type, rule: rule.rule, start, end };
    if (m[0].length === 0) re.lastIndex++;
  }
  return undefined;
}

const MENTION_BEFORE =
  /(?:such as|like|e\.g\.|eg|for example|for instance|phrases?|strings?|called|known as|payloads?|says?|said|saying|reads?|wrote|writes?|typed?|contains?|containing|includes?|including|(?:the|a|an) (?:model|llm|ai|agent|assistant|chatbot|bot) (?:to|into)|attempts? to|tries to|trying to|tricks? \S{1,20} into)\s{0,3}[:,]?\s{0,3}["'“‘«`]?\s{0,2}$/;
const NEGATION_BEFORE = /(?:never|not|n't|n’t|no)\s{1,3}(?:[a-z]{1,12}\s{1,3})?$/;
const QUOTES = '"\'“”‘’«»`';

/** Cited ("phrases such as …"), quoted ("“ignore previous instructions”") or negated ("never send …"). */
function isMention(lower: string, start: number, end: number): boolean {
  const before = lower.slice(Math.max(0, start - 48), start);
  if (MENTION_BEFORE.test(before) || NEGATION_BEFORE.test(before)) return true;
  let b = start - 1;
  while (b >= 0 && lower.charCodeAt(b) === 0x20) b--;
  if (b < 0 || !QUOTES.includes(lower.charAt(b))) return false;
  for (let a = end; a < Math.min(lower.length, end + 4); a++) if (QUOTES.includes(lower.charAt(a))) return true;
  return false;
}

// Prompt-injection and tool-poisoning phrasing, as rules over lower-cased text.
//
// Linear time: every quantifier in these patterns is bounded, so one match is at most
// MAX_PHRASE characters long, and a pattern only ever runs as one sticky attempt at an
// anchor or on a window of bounded size around one (see phrases.ts). Each rule lists
// anchors: lower-case literals, one of which every match of the pattern starts with (or,
// for `inner` rules, contains). Patterns are written in lower case and
// compiled without the `i` flag.

import { regexSpan } from './regex-span.js';

export type PhraseType = 'INSTRUCTION_OVERRIDE' | 'ROLE_SPOOFING' | 'TOOL_HIJACK' | 'TOOL_POISONING' | 'EXFILTRATION';

export interface PhraseRule {
  /** Position in PHRASE_RULES, for per-rule state kept in arrays. */
  readonly index: number;
  readonly rule: string;
  readonly type: PhraseType;
  readonly score: number;
  readonly anchors: readonly string[];
  /** Sticky ('y') when `anchored`, else global ('g'). */
  readonly re: RegExp;
  /** Every match starts at an anchor, so one sticky attempt there decides; else a window around it is searched. */
  readonly anchored: boolean;
  /** For window rules: how far before its anchor a match can start. */
  readonly reach: number;
  /** How far past its start a match can read (regexSpan, at most MAX_PHRASE): window rules search that far past the anchor. */
  readonly span: number;
  /** Quoted, cited ("such as …") or negated ("never …") matches score MENTION_SCORE. */
  readonly contextual: boolean;
}

/** Longest text any pattern can match; windows are sized from it. */
export const MAX_PHRASE = 200;

const S = String.raw`\s{1,3}`; // a bounded run of whitespace between words
const GAP = String.raw`[^.!?\n]{0,40}?`; // a few words within one sentence
const NAME = String.raw`[\x60"']?[a-z0-9_.:/-]{2,64}[\x60"']?`; // a tool name, perhaps quoted

interface Spec {
  rule: string;
  type: PhraseType;
  score: number;
  anchors: string[];
  re: string;
  contextual?: boolean;
  /** The anchors sit inside matches, at most this many characters after the start. */
  inner?: number;
}

const words = (list: string): string => `(?:${list.trim().split(/\s+/).join('|')})`;

const EN_OVERRIDE_VERB = words('ignore disregard forget override bypass discard neglect');
const EN_QUALIFIER = words(
  'previous prior above earlier preceding foregoing former initial original existing system developer safety all your its',
);
const EN_NOUN = words(
  'instructions? prompts? rules guidelines directives guardrails constraints restrictions policies programming commands orders messages',
);

const SPECS: Spec[] = [
  // English instruction override: a verb, a qualifier that points at the governing text, a noun for it.
  {
    rule: 'injection.override.en',
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.9,
    anchors: ['ignore', 'disregard', 'forget', 'override', 'bypass', 'discard', 'neglect'],
    re: String.raw`\b${EN_OVERRIDE_VERB}${S}(?:${words('all any every of the your my its these those such')}${S}){0,3}?${EN_QUALIFIER}${S}(?:[a-z-]{1,20}${S}){0,2}?${EN_NOUN}\b`,
    contextual: true,
  },
  {
    rule: 'injection.override.en-above',
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.8,
    anchors: ['ignore', 'disregard', 'forget'],
    re: String.raw`\b(?:ignore|disregard|forget)${S}(?:all${S}|everything${S}|the${S})?(?:above|previous|prior|preceding)(?=\s{0,3}(?:[.,;:!]|and\b|text\b|content\b|input\b|$))`,
    contextual: true,
  },
  {
    rule: 'injection.override.en-forget-everything',
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.85,
    anchors: ['forget'],
    re: String.raw`\bforget${S}(?:everything|all)${S}(?:you${S}(?:were|have${S}been|'ve${S}been)${S}(?:told|taught|given)|(?:that${S})?(?:you${S})?(?:know|learned)|above|before|previously)\b`,
    contextual: true,
  },
  {
    rule: 'injection.mode-switch',
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.9,
    anchors: ['you are now'],
    re: String.raw`\byou are now${S}(?:in${S})?(?:an?${S})?(?:developer${S}mode|dan|jailbr(?:oken|eak(?:${S}mode)?)|unrestricted|unfiltered|evil|free${S}(?:from|of)${S}(?:all${S})?(?:rules|restrictions|guidelines))\b`,
    contextual: true,
  },
  {
    rule: 'injection.mode-enable',
    inner: 40,
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.85,
    // Anchored on the rare "<adjective> mode" pair, not on "mode" (which starts "model").
    anchors: ['god mode', 'dan mode', 'jailbreak mode', 'unrestricted mode', 'sudo mode', 'evil mode'],
    re: String.raw`\b(?:enable|activate|enter|switch${S}to|turn${S}on)${S}(?:god|dan|jailbreak|unrestricted|sudo|evil) mode\b`,
    contextual: true,
  },
  {
    rule: 'injection.no-restrictions',
    inner: 60,
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.85,
    anchors: ['pretend', 'act as if', 'imagine', 'bound by'],
    re: String.raw`\b(?:(?:pretend|act${S}as${S}if|imagine)${S}(?:that${S})?you${S}(?:are|have)${S}(?:no|not${S}bound${S}by|free${S}of|without)|(?:are|you're)${S}no${S}longer${S}bound${S}by)${S}(?:[a-z]{1,15}${S}){0,2}?(?:restrictions|rules|limits|limitations|guidelines|filters|constraints|policies|instructions)\b`,
    contextual: true,
  },
  {
    rule: 'injection.new-instructions',
    inner: 40,
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.7,
    anchors: ['instruction'],
    re: String.raw`\b(?:new|updated|revised|real|actual|true|hidden|secret)${S}(?:system${S})?instructions?\s{0,3}:`,
  },
  {
    rule: 'injection.prompt-leak',
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.85,
    // Anchored on the verbs: "prompt" itself is everywhere in text about AI.
    anchors: ['reveal', 'print', 'show', 'output', 'repeat', 'leak', 'display', 'dump', 'disclose', 'tell'],
    re: String.raw`\b(?:reveal|print|show|output|repeat|leak|display|dump|disclose|tell${S}me)${S}(?:me${S})?(?:your|the)${S}(?:(?:full|entire|exact|complete|initial|original|hidden|secret)${S}){0,2}(?:system${S}prompt|system${S}message|initial${S}prompt|hidden${S}prompt|instructions${S}you${S}were${S}given)\b`,
    contextual: true,
  },
  // Override phrasing in other languages: a verb and, within the same sentence, a noun for instructions or rules.
  ...[
    ['de', 'ignoriere|ignorieren|ignoriert|vergiss|vergessen|missachte|missachten|überschreibe', 'anweisungen|instruktionen|regeln|vorgaben|befehle|anordnungen|systemprompt'],
    ['fr', 'ignore|ignorez|ignorer|oublie|oubliez|oublier', 'instructions|consignes|règles|directives'],
    ['es', 'ignora|ignore|ignorar|ignorad|olvida|olvide|olvidar|omite|descarta', 'instrucciones|reglas|indicaciones|directrices|órdenes'],
    ['pt', 'ignore|ignora|ignorar|esqueça|esqueca|desconsidere|desconsidera', 'instruções|instrucoes|regras|diretrizes|orientações'],
    ['it', 'ignora|ignorate|dimentica|dimenticate|trascura', 'istruzioni|regole|direttive|indicazioni'],
    ['nl', 'negeer|vergeet', 'instructies|regels|richtlijnen|opdrachten'],
    ['pl', 'zignoruj|ignoruj|zapomnij|pomiń', 'instrukcje|instrukcji|polecenia|poleceń|zasady|reguły'],
    ['ru', 'игнорируй|игнорируйте|проигнорируй|проигнорируйте|забудь|забудьте', String.raw`(?:инструкци|указани|правил|команд)\p{L}{0,3}`],
    ['uk', 'ігноруй|ігноруйте|проігноруй|забудь|забудьте', String.raw`(?:інструкці|вказівк|правил)\p{L}{0,3}`],
    ['ar', 'تجاهل|انس|أهمل', 'التعليمات|تعليمات|الأوامر|القواعد'],
    ['vi', 'bỏ qua|phớt lờ|quên', 'hướng dẫn|chỉ dẫn|chỉ thị|quy tắc'],
    ['id', 'abaikan|lupakan', 'instruksi|perintah|aturan|petunjuk'],
  ].map(([lang = '', verbs = '', nouns = '']): Spec => ({
    rule: `injection.override.${lang}`,
    type: 'INSTRUCTION_OVERRIDE',
    score: 0.85,
    anchors: verbs.split('|'),
    re: String.raw`(?<![\p{L}\p{N}])(?:${verbs})(?!\p{L})${GAP}(?:${nouns})(?!\p{L})`,
    contextual: true,
  })),
  // Languages that put the verb last: the noun comes first, the verb follows within the sentence.
  ...[
    ['zh', '忽略|忽视|无视|無視|忘记|忘記|不要理会|不要理會', '指令|指示|说明|說明|规则|規則|提示|命令|要求', false],
    ['ja', '無視|忘れ', '指示|命令|ルール|プロンプト|指令', true],
    ['ko', '무시|잊어', '지시|지침|명령|규칙|프롬프트', true],
    ['tr', 'yoksay|görmezden|unut', 'talimatları|talimatlar|kuralları|komutları', true],
    ['hi', 'अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल', 'निर्देशों|निर्देश|नियमों|आदेशों', true],
  ].map(([lang, verbs, nouns, nounFirst]): Spec => {
    const [v, n] = [`(?:${String(verbs)})`, `(?:${String(nouns)})`];
    const gap = String.raw`[^。！？.!?\n]{0,30}?`;
    return {
      rule: `injection.override.${String(lang)}`,
      type: 'INSTRUCTION_OVERRIDE',
      score: 0.85,
      anchors: String(nounFirst ? nouns : verbs).split('|'),
      re: nounFirst ? `${n}${gap}${v}` : `${v}${gap}${n}`,
      contextual: true,
    };
  }),
  // Role and system spoofing: chat-template control tokens and role headers inside data.
  {
    rule: 'injection.role.chatml',
    type: 'ROLE_SPOOFING',
    score: 0.85,
    anchors: ['<|'],
    re: String.raw`<\|im_start\|>\s{0,3}(?:system|assistant|developer)\b|<\|(?:im_end|im_sep|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|system|assistant)\|>`,
  },
  {
    rule: 'injection.role.inst-marker',
    type: 'ROLE_SPOOFING',
    score: 0.8,
    anchors: ['[inst]', '[/inst]', '<<sys>>', '<</sys>>', '<start_of_turn>'],
    re: String.raw`\[/?inst\]|<</?sys>>|<start_of_turn>`,
  },
  {
    rule: 'injection.role.markdown-header',
    type: 'ROLE_SPOOFING',
    score: 0.6,
    anchors: ['###'],
    re: String.raw`###[ \t]{0,3}(?:system|instructions?)[ \t]{0,3}(?::|(?![^\r\n]))`,
  },
  {
    rule: 'injection.role.line',
    inner: 24,
    type: 'ROLE_SPOOFING',
    score: 0.75,
    anchors: ['system', 'assistant', 'developer'],
    re: String.raw`(?<![^\n])[ \t]{0,3}(?:\*\*|#{1,3}[ \t]{0,2}|\[)?(?:system|assistant|developer)(?:\*\*|\])?[ \t]{0,3}(?:message|prompt|note|override|instructions?|update)?(?:\*\*)?[ \t]{0,2}:(?:\*\*)?[ \t]{0,3}(?:you${S}(?:are|must|will|should)|ignore|from${S}now|new${S}|the${S}user|always|never|do${S}not|important|override)\b`,
  },
  {
    rule: 'injection.role.tags',
    type: 'ROLE_SPOOFING',
    score: 0.8,
    anchors: ['<system', '</system', '<function_calls', '</function_results', '</tool_result', '<tool_call', '<invoke name', '</tool_output'],
    re: String.raw`</?system(?:_prompt|_message)?>|<function_calls>|</function_results>|</tool_result>|</tool_output>|<tool_call>|<invoke name=`,
  },
  // Tool-call hijacking: telling the agent which tool to call and with what.
  {
    rule: 'injection.tool.call-with',
    type: 'TOOL_HIJACK',
    score: 0.65,
    anchors: ['call ', 'invoke ', 'execute ', 'trigger '],
    re: String.raw`\b(?:call|invoke|execute|trigger)${S}(?:the${S})?${NAME}${S}(?:tool|function|mcp${S}tool)${S}(?:with|passing|using|and${S}pass|on)\b`,
    contextual: true,
  },
  {
    rule: 'injection.tool.call-to-act',
    inner: 110,
    type: 'TOOL_HIJACK',
    score: 0.8,
    anchors: ['tool to ', 'function to '],
    re: String.raw`\b(?:use|call|invoke|run)${S}(?:the${S})?${NAME}${S}(?:tool|function) to (?:send|email|forward|upload|post|transfer|exfiltrate|share|leak|delete|wipe|drop|transmit)\b`,
    contextual: true,
  },
  {
    rule: 'injection.tool.sequencing',
    inner: 40,
    type: 'TOOL_HIJACK',
    score: 0.8,
    anchors: ['answering', 'responding', 'replying', 'proceeding', 'anything else', 'other tool', 'another tool', 'this tool'],
    re: String.raw`\b(?:before|after|instead${S}of|prior${S}to)${S}(?:answering|responding|replying|proceeding|doing${S}anything${S}else|using${S}(?:any${S}other|this|another)${S}tool)\b[^.!?\n]{0,60}?\b(?:call|invoke|use|run|send|read|fetch|execute)\b`,
    contextual: true,
  },
  // Tool poisoning: concealment from the user, sensitive files, the <IMPORTANT> wrapper.
  {
    rule: 'injection.poison.conceal',
    inner: 30,
    type: 'TOOL_POISONING',
    score: 0.8,
    anchors: ['tell', 'inform', 'mention', 'reveal', 'disclos', 'notify', 'alert'],
    re: String.raw`\b(?:do${S}not|don'?t|never)${S}(?:tell|inform|mention|reveal|disclose|notify|alert)${S}(?:this${S}|it${S}|anything${S}|that${S})?(?:to${S})?(?:the${S})?(?:user|human|operator)s?\b`,
  },
  {
    rule: 'injection.poison.important-tag',
    type: 'TOOL_POISONING',
    score: 0.7,
    anchors: ['<important>'],
    re: String.raw`<important>`,
  },
  {
    rule: 'injection.poison.sensitive-file',
    inner: 60,
    type: 'TOOL_POISONING',
    score: 0.8,
    anchors: ['ssh/', 'id_rsa', 'id_ed25519', 'aws/credentials', 'etc/passwd', 'etc/shadow', 'netrc', 'npmrc', 'kube/config', 'env', 'mcp.json'],
    re: String.raw`\b(?:send|pass|include|upload|attach|post|forward|exfiltrate|leak|share|provide)\b${GAP}(?:~/\.ssh|\.ssh/|id_rsa\b(?!\.pub)|id_ed25519\b(?!\.pub)|\.aws/credentials|/etc/(?:passwd|shadow)|\.netrc|\.npmrc|\.kube/config|\.env\b|mcp\.json)`,
    contextual: true,
  },
  {
    rule: 'injection.exfil.send-secrets',
    type: 'EXFILTRATION',
    score: 0.8,
    anchors: ['send ', 'forward ', 'email ', 'upload ', 'transmit ', 'leak ', 'exfiltrate ', 'post '],
    re: String.raw`\b(?:send|forward|email|upload|transmit|leak|exfiltrate|post)${S}(?:(?:all|the|your|any|this|their|my|our|of|full|entire|whole|previous|current|contents?)${S}){0,4}?(?:conversation|chat${S}history|api${S}keys?|credentials|passwords?|secrets?|tokens?|private${S}keys?|ssh${S}keys?|system${S}prompt|session${S}cookies?|cookies|environment${S}variables)\b${GAP}\b(?:to|at|via)\b`,
    contextual: true,
  },
];

export const PHRASE_RULES: readonly PhraseRule[] = SPECS.map((s, index) => {
  // The `u` flag only where a pattern needs it (\p{…}): V8 runs patterns without it faster.
  const unicode = s.re.includes('\\p{');
  return {
    index,
    rule: s.rule,
    type: s.type,
    score: s.score,
    anchors: s.anchors,
    re: new RegExp(s.re, (s.inner === undefined ? 'y' : 'g') + (unicode ? 'u' : '')),
    anchored: s.inner === undefined,
    reach: s.inner ?? 0,
    span: Math.min(MAX_PHRASE, regexSpan(s.re, unicode)),
    contextual: s.contextual ?? false,
  };
});

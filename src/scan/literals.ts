// A regex source matching any of a set of literal strings, shaped as a trie
// ("ab|ac" → "a(?:b|c)"). V8's regex engine tries alternatives one after another at each
// position; as a trie, a position that starts no literal is rejected after one character
// test instead of one per literal: several times faster on long lists.

interface Node {
  end: boolean;
  next: Map<string, Node>;
}

const escape = (ch: string): string => (/[.*+?^${}()|[\]\\/-]/.test(ch) ? `\\${ch}` : ch);

export function literalsSource(literals: Iterable<string>): string {
  const root: Node = { end: false, next: new Map() };
  for (const lit of literals) {
    let n = root;
    for (const ch of lit) {
      let child = n.next.get(ch);
      if (child === undefined) {
        child = { end: false, next: new Map() };
        n.next.set(ch, child);
      }
      n = child;
    }
    n.end = true;
  }
  return source(root);
}

/** Longest literal first at every branch: an end-of-literal is the last, optional choice. */
function source(n: Node): string {
  const branches = [...n.next].map(([ch, child]) => escape(ch) + source(child));
  if (branches.length === 0) return '';
  const body = branches.length === 1 ? branches[0]! : `(?:${branches.join('|')})`;
  if (!n.end) return body;
  return branches.length === 1 && [...n.next.values()][0]!.next.size === 0 && body.length <= 2 ? `${body}?` : `(?:${body})?`;
}

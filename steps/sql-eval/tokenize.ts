// Tokenization of process_sql.py: quoted values become single tokens, the rest
// goes through NLTK's word tokenizer (NLTKWordTokenizer, the one word_tokenize
// uses; the SQL is one "sentence" as Punkt never splits Spider queries), then
// lower-cased, and '!', '>', '<' are glued to a following '='.

type Rule = [RegExp, string];

const STARTING_QUOTES: Rule[] = [
  [/([«“‘„]|`+)/g, ' $1 '],
  [/^"/, '``'],
  [/(``)/g, ' $1 '],
  [/([ ([{<])("|'{2})/g, '$1 `` '],
  [/(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)/gi, '$1 '],
];

const PUNCTUATION: Rule[] = [
  [/([^.])(\.)([\])}>"'»”’ ]*)\s*$/, '$1 $2 $3 '],
  [/([:,])([^\d])/g, ' $1 $2'],
  [/([:,])$/, ' $1 '],
  [/\.{2,}/g, ' $& '],
  [/[;@#$%&]/g, ' $& '],
  [/[\u2012-\u2015]/g, ' $& '],
  [/([^.])(\.)([\])}>"']*)\s*$/, '$1 $2$3 '],
  [/[?!]/g, ' $& '],
  [/([^'])' /g, "$1 ' "],
  [/[*]/g, ' $& '],
];

const PARENS_BRACKETS: Rule = [/[\][(){}<>]/g, ' $& '];
const DOUBLE_DASHES: Rule = [/--/g, ' -- '];

const ENDING_QUOTES: Rule[] = [
  [/([»”’])/g, ' $1 '],
  [/''/g, " '' "],
  [/"/g, " '' "],
  [/\s+/g, ' '],
  [/([^' ])('[sS]|'[mM]|'[dD]|') /g, '$1 $2 '],
  [/([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) /g, '$1 $2 '],
];

const CONTRACTIONS: Rule[] = [
  [/\b(can)(not)\b/gi, ' $1 $2 '],
  [/\b(d)('ye)\b/gi, ' $1 $2 '],
  [/\b(gim)(me)\b/gi, ' $1 $2 '],
  [/\b(gon)(na)\b/gi, ' $1 $2 '],
  [/\b(got)(ta)\b/gi, ' $1 $2 '],
  [/\b(lem)(me)\b/gi, ' $1 $2 '],
  [/\b(more)('n)\b/gi, ' $1 $2 '],
  [/\b(wan)(na)(?=\s)/gi, ' $1 $2 '],
  [/ ('t)(is)\b/gi, ' $1 $2 '],
  [/ ('t)(was)\b/gi, ' $1 $2 '],
];

function applyAll(text: string, rules: Rule[]): string {
  for (const [re, sub] of rules) text = text.replace(re, sub);
  return text;
}

export function nltkWordTokenize(text: string): string[] {
  text = applyAll(text, STARTING_QUOTES);
  text = applyAll(text, PUNCTUATION);
  text = text.replace(PARENS_BRACKETS[0], PARENS_BRACKETS[1]);
  text = text.replace(DOUBLE_DASHES[0], DOUBLE_DASHES[1]);
  text = ` ${text} `;
  text = applyAll(text, ENDING_QUOTES);
  text = applyAll(text, CONTRACTIONS);
  return text.split(/\s+/).filter((t) => t.length > 0);
}

/** Python list index: negative counts from the end; out of range throws like IndexError. */
export function pyAt<T>(xs: readonly T[], i: number): T {
  const j = i < 0 ? xs.length + i : i;
  if (j < 0 || j >= xs.length) throw new SpiderParseError(`index ${i} out of range`);
  return xs[j]!;
}

/** Python slice xs[a:b] with negative bounds. */
function pySlice<T>(xs: readonly T[], a: number, b?: number): T[] {
  const n = xs.length;
  const norm = (i: number) => (i < 0 ? Math.max(0, n + i) : Math.min(i, n));
  return xs.slice(norm(a), b === undefined ? n : norm(b));
}

export class SpiderParseError extends Error {}

export function tokenizeSql(input: string): string[] {
  let s = input.replace(/'/g, '"');
  const quotes: number[] = [];
  for (let i = 0; i < s.length; i++) if (s[i] === '"') quotes.push(i);
  if (quotes.length % 2 !== 0) throw new SpiderParseError('Unexpected quote');
  const vals = new Map<string, string>();
  for (let i = quotes.length - 1; i >= 0; i -= 2) {
    const q1 = quotes[i - 1]!;
    const q2 = quotes[i]!;
    const key = `__val_${q1}_${q2}__`;
    vals.set(key, s.slice(q1, q2 + 1));
    s = s.slice(0, q1) + key + s.slice(q2 + 1);
  }
  let toks = nltkWordTokenize(s).map((w) => w.toLowerCase());
  toks = toks.map((t) => vals.get(t) ?? t);
  const eqIdxs: number[] = [];
  toks.forEach((t, i) => {
    if (t === '=') eqIdxs.push(i);
  });
  eqIdxs.reverse();
  for (const eq of eqIdxs) {
    const pre = pyAt(toks, eq - 1);
    if (pre === '!' || pre === '>' || pre === '<') {
      toks = [...pySlice(toks, 0, eq - 1), pre + '=', ...pySlice(toks, eq + 1)];
    }
  }
  return toks;
}

// The docs say what flow does today: README.md and every docs/**/*.md page (docs/incoming/ holds
// drafts the lead has not folded in yet, so it is left out).
// - Every YAML block loads: a whole recipe passes `flow validate`, and a step snippet (a mapping
//   of step ids, no `name:`) passes it inside a recipe that gives each step it references a
//   stand-in shell step with the referenced outputs.
// - A block marked `<!-- docs-test: output -->` is a terminal session: each `$ flow ...` line is
//   run from the repository root and must print exactly the lines under it.
// - Every relative link reaches a file, and a `#anchor` into a markdown page reaches one of its
//   headings (GitHub's slugs), so moving a section cannot leave a dead link behind.
// - README.md stays an entry point: at most 12 KB.

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { execa } from 'execa';
import { globSync } from 'tinyglobby';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { FLOW, ROOT } from './helpers/cli.js';

const pages = ['README.md', ...globSync('docs/**/*.md', { cwd: ROOT, ignore: ['docs/incoming/**'] }).sort()];
const text = new Map(pages.map((p) => [p, readFileSync(join(ROOT, p), 'utf8')]));
const dir = mkdtempSync(join(tmpdir(), 'flow-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Fenced blocks of a page: info string, body, the line before the fence, and the fence's line number. */
function fences(md: string): { info: string; body: string; marker: string; line: number }[] {
  const out: { info: string; body: string; marker: string; line: number }[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    // A fence may be indented (inside a list item); its body loses that indentation.
    const open = /^( *)```(\S*)/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !/^ *```/.test(lines[i]!)) body.push(lines[i]!.slice(open[1]!.length));
    out.push({ info: open[2]!, body: body.join('\n') + '\n', marker: (lines[start - 1] ?? '').trim(), line: start + 1 });
  }
  return out;
}

const yamlBlocks = pages.flatMap((p) =>
  fences(text.get(p)!).filter((f) => /^ya?ml$/.test(f.info)).map((f) => [`${p}:${f.line}`, f.body] as const),
);
const outputBlocks = pages.flatMap((p) =>
  fences(text.get(p)!).filter((f) => f.marker === '<!-- docs-test: output -->').map((f) => [`${p}:${f.line}`, f.body] as const),
);

it('the docs have recipe blocks and output blocks to check', () => {
  expect(pages.length).toBeGreaterThan(5);
  expect(yamlBlocks.filter(([, b]) => 'name' in (parse(b) as object)).length).toBeGreaterThanOrEqual(2);
  expect(outputBlocks.length).toBeGreaterThanOrEqual(2);
});

it('README.md is an entry point, at most 12 KB (the rest lives in docs/)', () => {
  expect(statSync(join(ROOT, 'README.md')).size).toBeLessThanOrEqual(12 * 1024);
});

describe.each(yamlBlocks)('YAML block at %s', (where, block) => {
  it('validates', async () => {
    const doc = parse(block) as Record<string, unknown>;
    let recipe = block;
    if (!('name' in doc)) {
      const stand: Record<string, { run: string; outputs: Record<string, string> }> = {};
      for (const [, step, output] of block.matchAll(/\$\{steps\.([\w-]+)\.outputs\.(\w+)\}/g)) {
        if (step! in doc) continue;
        stand[step!] ??= { run: 'true', outputs: {} };
        stand[step!]!.outputs[output!] = output!;
      }
      recipe = stringify({ name: 'docs-block', steps: { ...stand, ...doc } });
    }
    const file = join(dir, `${where.replace(/[^\w.-]/g, '_')}.yml`);
    writeFileSync(file, recipe);
    const r = await execa(process.execPath, [FLOW, 'validate', file, '--cache-dir', join(dir, 'cache')], { reject: false, cwd: ROOT });
    expect(r.exitCode, `${where}: ${r.stderr}`).toBe(0);
  });
});

/** `$ flow ...` lines and the lines each must print. */
function session(body: string): { command: string; expected: string }[] {
  const steps: { command: string; expected: string[] }[] = [];
  for (const line of body.replace(/\n$/, '').split('\n')) {
    if (line.startsWith('$ ')) steps.push({ command: line.slice(2), expected: [] });
    else steps.at(-1)?.expected.push(line);
  }
  return steps.map((s) => ({ command: s.command, expected: s.expected.join('\n') }));
}

const trimEnds = (s: string) => s.split('\n').map((l) => l.trimEnd()).join('\n').replace(/\n+$/, '');

describe.each(outputBlocks)('output block at %s', (where, body) => {
  it('prints what it shows', async () => {
    const steps = session(body);
    expect(steps.length, `${where}: no "$ flow ..." line`).toBeGreaterThan(0);
    for (const { command, expected } of steps) {
      expect(command, `${where}: only flow commands are run`).toMatch(/^flow( |$)/);
      // Arguments are split on spaces: a shown command has no quoting.
      const args = command.split(/\s+/).slice(1);
      const r = await execa(process.execPath, [FLOW, ...args], { reject: false, cwd: ROOT, all: true, env: { FLOW_CACHE: join(dir, 'session-cache'), NO_COLOR: '1' } });
      expect(trimEnds(r.all ?? ''), `${where}: $ ${command}`).toBe(trimEnds(expected));
    }
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fence = false;
  for (const line of md.split('\n')) {
    if (/^ *```/.test(line)) fence = !fence;
    const h = !fence && /^#{1,6}\s+(.*)$/.exec(line);
    if (!h) continue;
    const base = h[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Markdown links outside code: `[text](target)`, inline code spans removed first. */
function links(md: string): string[] {
  let fence = false;
  const prose = md.split('\n').filter((l) => (/^ *```/.test(l) ? ((fence = !fence), false) : !fence)).join('\n');
  return [...prose.replace(/`[^`\n]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

const linkCases = pages.flatMap((p) => links(text.get(p)!).filter((l) => !/^[a-z]+:/.test(l)).map((l) => [p, l] as const));

it.each(linkCases)('%s: link %s reaches its page and heading', (page, link) => {
  const [path, anchor] = link.split('#') as [string, string | undefined];
  const target = path ? resolve(dirname(join(ROOT, page)), path) : join(ROOT, page);
  expect(existsSync(target), `${page}: ${link}: no ${relative(ROOT, target)}`).toBe(true);
  if (anchor !== undefined && target.endsWith('.md')) {
    expect([...anchors(readFileSync(target, 'utf8'))], `${page}: ${link}`).toContain(anchor);
  }
});

// keepalived.conf syntax: a tree of statements. A statement is a keyword and the words after it on its line;
// a `{` (on that line or the next) opens a block of statements closed by `}`. `!` and `#` start comments
// outside double quotes. `include <file>` splices another file (a `*` in the last path part is expanded).
// Semantics live in config.ts; this file only knows syntax and reports file and line.

import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface Statement {
  keyword: string;
  args: string[];
  file: string;
  line: number;
  block?: Statement[];
}

export class ConfigError extends Error {
  constructor(
    readonly code: 'SYNTAX' | 'UNKNOWN_KEYWORD' | 'BAD_VALUE' | 'MISSING' | 'IO',
    readonly file: string,
    readonly line: number,
    readonly keyword: string,
    detail: string,
  ) {
    super(`${file}:${line}: ${keyword}: ${detail}`);
    this.name = 'ConfigError';
  }
}

interface Token {
  text: string;
  line: number;
  quoted: boolean;
}

function tokenize(text: string, file: string): Token[] {
  const out: Token[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    let j = 0;
    while (j < raw.length) {
      const c = raw[j]!;
      if (c === ' ' || c === '\t') {
        j++;
      } else if (c === '!' || c === '#') {
        break;
      } else if (c === '{' || c === '}') {
        out.push({ text: c, line, quoted: false });
        j++;
      } else if (c === '"') {
        const end = raw.indexOf('"', j + 1);
        if (end < 0) throw new ConfigError('SYNTAX', file, line, raw.trim().split(/\s+/)[0] ?? '"', 'unterminated quoted string');
        out.push({ text: raw.slice(j + 1, end), line, quoted: true });
        j = end + 1;
      } else {
        let k = j;
        while (k < raw.length && !' \t{}"!#'.includes(raw[k]!)) k++;
        out.push({ text: raw.slice(j, k), line, quoted: false });
        j = k;
      }
    }
  });
  return out;
}

function expandInclude(pattern: string, fromFile: string, line: number): string[] {
  const full = resolve(dirname(fromFile), pattern);
  const base = basename(full);
  if (!base.includes('*') && !base.includes('?')) return [full];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  try {
    return readdirSync(dirname(full))
      .filter((f) => re.test(f))
      .sort()
      .map((f) => join(dirname(full), f));
  } catch (e) {
    throw new ConfigError('IO', fromFile, line, 'include', (e as Error).message);
  }
}

/** Parse a file into statements, following `include`. */
export function parseFile(file: string, depth = 0): Statement[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('IO', file, 0, 'file', (e as Error).message);
  }
  return parseText(text, file, depth);
}

export function parseText(text: string, file: string, depth = 0): Statement[] {
  const toks = tokenize(text, file);
  let pos = 0;
  const parseBlock = (closing: Token | undefined): Statement[] => {
    const stmts: Statement[] = [];
    while (pos < toks.length) {
      const t = toks[pos]!;
      if (t.text === '}' && !t.quoted) {
        if (closing === undefined) throw new ConfigError('SYNTAX', file, t.line, '}', 'unbalanced closing brace');
        pos++;
        return stmts;
      }
      if (t.text === '{' && !t.quoted) throw new ConfigError('SYNTAX', file, t.line, '{', 'block without a keyword');
      pos++;
      const st: Statement = { keyword: t.text, args: [], file, line: t.line };
      // Quoted braces are arguments, not structure.
      const isBrace = (k: Token): boolean => !k.quoted && (k.text === '{' || k.text === '}');
      while (pos < toks.length && toks[pos]!.line === t.line && !isBrace(toks[pos]!)) {
        st.args.push(toks[pos]!.text);
        pos++;
      }
      const nx = toks[pos];
      if (nx !== undefined && nx.text === '{' && !nx.quoted) {
        pos++;
        st.block = parseBlock(nx);
      }
      if (st.keyword === 'include' && closing === undefined) {
        if (depth > 8) throw new ConfigError('SYNTAX', file, t.line, 'include', 'includes nested too deeply');
        const target = st.args[0];
        if (target === undefined) throw new ConfigError('MISSING', file, t.line, 'include', 'missing file name');
        for (const f of expandInclude(target, file, t.line)) stmts.push(...parseFile(f, depth + 1));
        continue;
      }
      stmts.push(st);
    }
    if (closing !== undefined) throw new ConfigError('SYNTAX', file, closing.line, '{', 'block not closed before end of file');
    return stmts;
  };
  return parseBlock(undefined);
}

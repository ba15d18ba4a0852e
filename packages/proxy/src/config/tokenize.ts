/**
 * Splits one haproxy.cfg line into words.
 *
 * haproxy: configuration.txt §2.2 "Quoting and escaping": a backslash escapes the next character (`\ ` keeps a space
 * inside a word, `\#` a literal hash), double quotes group words and expand `${VAR}`, single quotes group words with
 * no expansion, and an unquoted `#` starts a comment.
 */
export class TokenizeError extends Error {
  readonly code = 'ETOKENIZE';
}

const ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r' };

export function tokenize(line: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
      continue;
    }
    if (c === '\\') {
      const n = line[i + 1];
      if (n === undefined) throw new TokenizeError('line ends with a backslash');
      if (n === 'x') {
        const hex = line.slice(i + 2, i + 4);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new TokenizeError(`invalid escape '\\x${hex}'`);
        cur += String.fromCharCode(parseInt(hex, 16));
        i += 3;
      } else {
        cur += ESCAPES[n] ?? n;
        i++;
      }
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '$' && line[i + 1] === '{') {
        const end = line.indexOf('}', i + 2);
        if (end < 0) throw new TokenizeError('unterminated ${...} in quoted string');
        const name = line.slice(i + 2, end).split('-')[0] ?? '';
        cur += env[name] ?? '';
        i = end;
      } else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
      continue;
    }
    if (c === '#') break;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      if (inWord) {
        words.push(cur);
        cur = '';
        inWord = false;
      }
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (quote) throw new TokenizeError(`unmatched quote ${quote}`);
  if (inWord) words.push(cur);
  return words;
}

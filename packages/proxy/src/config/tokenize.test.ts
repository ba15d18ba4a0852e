import { describe, expect, it } from 'vitest';
import { tokenize, TokenizeError } from './tokenize.ts';

describe('tokenize', () => {
  it('splits on blanks and drops comments', () => {
    expect(tokenize('    server a 10.0.0.1:5672 check   # comment')).toEqual(['server', 'a', '10.0.0.1:5672', 'check']);
    expect(tokenize('# only a comment')).toEqual([]);
  });
  it('keeps escaped spaces and hashes inside a word', () => {
    expect(tokenize('stats realm Haproxy\\ statistic')).toEqual(['stats', 'realm', 'Haproxy statistic']);
    expect(tokenize('x a\\#b')).toEqual(['x', 'a#b']);
  });
  it('handles quotes and expands variables in double quotes only', () => {
    expect(tokenize(`x "a b" 'c ${'$'}{V}' "${'$'}{V}"`, { V: 'v' })).toEqual(['x', 'a b', 'c ${V}', 'v']);
    expect(tokenize('x ""')).toEqual(['x', '']);
  });
  it('rejects an unmatched quote', () => {
    expect(() => tokenize('x "abc')).toThrow(TokenizeError);
  });
});

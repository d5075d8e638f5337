import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { render } from '../../src/cli/output.js';
import { VERSION } from '../../src/version.js';

describe('CLI output', () => {
  it('prints one record as aligned key/value lines, and JSON with --json', () => {
    expect(render({ id: 'order-1', pool: null, meta: { a: 1 } }, false)).toBe('id    order-1\npool  -\nmeta  {"a":1}');
    expect(render({ id: 'order-1' }, true)).toBe('{"id":"order-1"}');
  });
  it('prints lists as a table with a header, and says when there is nothing', () => {
    expect(render([{ number: '+912240001000', state: 'active' }, { number: '+14155550100', state: 'quarantined' }], false))
      .toBe('NUMBER         STATE\n+912240001000  active\n+14155550100   quarantined');
    expect(render([], false)).toBe('(none)');
  });
  it('reports the version package.json has', () => {
    expect(VERSION).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });
});

import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/shared/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);

describe('docs/errors.md', () => {
  it('lists exactly the codes in src/shared/errors.ts, with their statuses', () => {
    expect(Object.fromEntries(rows)).toEqual(ERROR_CODES);
    expect(rows).toHaveLength(Object.keys(ERROR_CODES).length);
  });

  it('declares no code that the server never raises', () => {
    const src = execSync('grep -rhoE "[A-Z][A-Z0-9_]{5,}" src --include=*.ts --exclude=errors.ts', { encoding: 'utf8' });
    const used = new Set(src.split('\n'));
    const unused = Object.keys(ERROR_CODES).filter((code) => !used.has(code));
    expect(unused).toEqual([]);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { baseUrl, currentPolicy, pageLink } from '../../src/auth/page-links.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const consent = { policyVersions: ['2027-01', '2026-09'] };

describe('links to the pages (src/auth/page-links.ts)', () => {
  it('participant links carry the token and the current policy version; desk links go to desk.html', () => {
    expect(currentPolicy(consent)).toBe('2027-01');
    expect(pageLink('https://sfu.example.org/', 'a.b.c', 'student', consent)).toBe('https://sfu.example.org/#token=a.b.c&policy=2027-01');
    expect(pageLink('http://127.0.0.1:3000', 'a.b.c', 'desk', consent)).toBe('http://127.0.0.1:3000/desk.html#token=a.b.c');
    expect(pageLink('http://h:1', 'a.b.c', 'clinician', { policyVersions: ['v 1&2'] })).toBe('http://h:1/#token=a.b.c&policy=v%201%262');
  });

  it('the base is the public URL, else host and port (a wildcard host shown as loopback)', () => {
    expect(baseUrl({ publicUrl: 'https://sfu.example.org//', host: '0.0.0.0' }, 3000)).toBe('https://sfu.example.org');
    expect(baseUrl({ publicUrl: '', host: '0.0.0.0' }, 3000)).toBe('http://127.0.0.1:3000');
    expect(baseUrl({ publicUrl: '', host: '::' }, 3000)).toBe('http://127.0.0.1:3000');
    expect(baseUrl({ publicUrl: '', host: '::1' }, 8443)).toBe('http://[::1]:8443');
  });

  it('README.md documents the format and every fragment parameter the pages read', () => {
    const section = readme.slice(readme.indexOf('### Links to the pages'));
    expect(section).toContain('<base>/#token=<room token>&policy=<current consent policy version>');
    expect(section).toContain('<base>/desk.html#token=<desk token>');
    const client = new URL('../../src/client/', import.meta.url);
    const read = new Set<string>();
    for (const f of readdirSync(client).filter((n) => n.endsWith('.ts'))) {
      for (const m of readFileSync(new URL(f, client), 'utf8').matchAll(/\b(?:link|fragment)\.get\('(\w+)'\)/g)) read.add(m[1]!);
    }
    read.add('token');
    expect(read.size).toBeGreaterThanOrEqual(5);
    const documented = new Set([...section.matchAll(/^\| `(\w+)`(?:, `(\w+)`)? \|/gm)].flatMap((m) => [m[1]!, m[2]].filter(Boolean) as string[]));
    expect([...read].filter((p) => !documented.has(p))).toEqual([]);
  });
});

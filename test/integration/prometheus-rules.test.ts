import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { havePrometheus, promtool, RULE_FILES, RULES_DIR } from '../helpers/prometheus.ts';

// deploy/prometheus/: promtool (Debian's prometheus package) checks the rule files and runs their
// unit tests; the text checks below need no promtool. No YAML parser is among the dependencies:
// the files are read with patterns that fit how they are written (one rule key a line).
const SUITE = 'The Prometheus rule tests (promtool)';
const available = havePrometheus(SUITE);
const read = (f: string) => readFileSync(new URL(f, RULES_DIR), 'utf8');
const alerts = read('alert-rules.yml');
const unitTests = read('alert-rules.test.yml');
const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

/** Each alert's block of alert-rules.yml: from its `- alert:` line to the next rule or group. */
const alertBlocks = [...alerts.matchAll(/^ {2}- alert: (\w+)\n((?: {4}.*\n|\s*\n)*)/gm)].map((m) => ({ name: m[1]!, body: m[2]! }));
/** GitHub's anchor of a Markdown heading: lower case, spaces to dashes, punctuation dropped. */
const anchors = new Set([...operations.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));

describe('deploy/prometheus rules: what every alert carries', () => {
  it('has a severity, a summary, a description and a runbook_url naming a section of docs/operations.md', () => {
    expect(alertBlocks.length).toBeGreaterThanOrEqual(10);
    for (const { name, body } of alertBlocks) {
      expect(body, name).toMatch(/labels: \{ severity: (critical|warning) \}/);
      expect(body, name).toMatch(/summary: '.+'/);
      expect(body, name).toMatch(/description: '.+'/);
      const url = /runbook_url: 'docs\/operations\.md#([\w-]+)'/.exec(body)?.[1];
      expect(url, `${name}: runbook_url`).toBe(name.toLowerCase());
      expect(anchors.has(url!), `${name}: docs/operations.md has a "${name}" heading`).toBe(true);
    }
  });

  it('has at least one unit test where it fires and one where it does not (alert-rules.test.yml)', () => {
    const cases = [...unitTests.matchAll(/alertname: (\w+)\n\s*exp_alerts:( \[\])?/g)];
    for (const { name } of alertBlocks) {
      const mine = cases.filter((c) => c[1] === name);
      expect(mine.some((c) => c[2] === undefined), `${name} fires in a test`).toBe(true);
      expect(mine.some((c) => c[2] === ' []'), `${name} stays quiet in a test`).toBe(true);
    }
    // No test names an alert that does not exist.
    const names = new Set(alertBlocks.map((a) => a.name));
    expect(cases.map((c) => c[1]).filter((n) => !names.has(n!))).toEqual([]);
  });
});

describe.skipIf(!available)('deploy/prometheus rules through promtool', () => {
  it('promtool check rules accepts every rule file', () => {
    const r = promtool(['check', 'rules', ...RULE_FILES]);
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.status, r.output).toBe(0);
  });

  it('promtool check config accepts deploy/prometheus/prometheus.yml (and the rule files it loads)', () => {
    const r = promtool(['check', 'config', 'prometheus.yml']);
    expect(r.status, r.output).toBe(0);
  });

  it('promtool test rules passes every case of alert-rules.test.yml', () => {
    const r = promtool(['test', 'rules', 'alert-rules.test.yml']);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.output).not.toMatch(/FAILED/);
  });
});

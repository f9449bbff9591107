import { describe, expect, it } from 'vitest';
import { reRaiseTarget } from '../../src/safety/panic/re-raise.ts';
import type { Incident } from '../../src/domain/incident.ts';

const at = '2026-12-02T09:00:00.000Z';
const incident = (id: string, raisedAt: string, cancelled = false) => ({ id, raisedAt, ...(cancelled ? { cancelledAt: raisedAt } : {}) }) as unknown as Incident;

describe('reRaiseTarget (src/safety/panic/re-raise.ts)', () => {
  it('the newest open incident that is not cancelled, else the newest', () => {
    const open = [incident('a', '2026-12-02T08:59:00.000Z'), incident('b', at), incident('c', '2026-12-02T09:00:01.000Z', true)];
    expect(reRaiseTarget(open).id).toBe('b');
    expect(reRaiseTarget(open.map((i) => ({ ...i, cancelledAt: at }) as Incident)).id).toBe('c');
  });

  it('raises in the same millisecond: the one opened later is the newer', () => {
    const open = [incident('a', at), incident('b', at), incident('c', at, true)];
    expect(reRaiseTarget(open).id).toBe('b');
    expect(reRaiseTarget(open.map((i) => ({ ...i, cancelledAt: at }) as Incident)).id).toBe('c');
  });
});

import { describe, expect, it } from 'vitest';
import { layersOf } from '../../src/media/scalability-mode.ts';

describe('layersOf (src/media/scalability-mode.ts)', () => {
  it('reads the spatial and temporal layer counts of a scalability mode', () => {
    expect(layersOf('L3T3')).toEqual({ spatial: 3, temporal: 3 });
    expect(layersOf('L3T3_KEY')).toEqual({ spatial: 3, temporal: 3 });
    expect(layersOf('S2T1')).toEqual({ spatial: 2, temporal: 1 });
    expect(layersOf('L1T2')).toEqual({ spatial: 1, temporal: 2 });
  });

  it('one layer of each when the mode is absent or unreadable', () => {
    for (const mode of [undefined, '', 'L', 'T3', 'x3T3']) expect(layersOf(mode)).toEqual({ spatial: 1, temporal: 1 });
  });
});

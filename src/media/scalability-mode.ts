/**
 * The layers a scalability mode names (WebRTC-SVC: "L3T3", "L3T3_KEY", "S2T1"; mediasoup writes a
 * simulcast consumer's as e.g. "L3T3"): spatial and temporal layer counts, 1 and 1 when absent or
 * unreadable.
 */
export function layersOf(mode: string | undefined): { spatial: number; temporal: number } {
  const m = /^[LS](\d+)T(\d+)/.exec(mode ?? '');
  return m ? { spatial: Number(m[1]), temporal: Number(m[2]) } : { spatial: 1, temporal: 1 };
}

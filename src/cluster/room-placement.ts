/** Where a room's join goes (docs/scaling.md, "Placement"). */
export type PlacementDecision =
  | { readonly kind: 'local' }
  /** The room is (or is to be) hosted by node `node`, reached at `url` (its cluster.publicUrl). */
  | { readonly kind: 'elsewhere'; readonly node: string; readonly url: string };

/** Decides where a room not open on this node goes. One implementation per mode, picked in app.ts. */
export interface RoomPlacement {
  place(roomId: string): Promise<PlacementDecision>;
}

export const LOCAL: PlacementDecision = Object.freeze({ kind: 'local' });

/** A single node (no Redis): every room is hosted here, as before the cluster existed. */
export const localPlacement: RoomPlacement = { place: () => Promise.resolve(LOCAL) };

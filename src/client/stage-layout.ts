/**
 * Which tile the in-call view shows large (the stage) and which small (the filmstrip): pure, so
 * the unit tests run it in Node (test/unit/stage-layout.test.ts). The tile sizes that follow from
 * it are what the page reports with setViewport, so the stage gets the high layer and the
 * filmstrip the low one (viewport.ts, docs/forwarding.md "Layers by viewport").
 */

export interface Feed {
  /** The tile's key: a participant id for a camera tile, `<participantId>:screen` for a screen share. */
  readonly key: string;
  readonly participantId: string;
  readonly source: 'camera' | 'screen';
  /** Our own camera preview or our own shared screen: never on the stage unless pinned. */
  readonly local: boolean;
}

export interface Arrangement {
  /** The key on the stage (undefined: nothing to show large, e.g. alone in the room). */
  readonly stage: string | undefined;
  /** Every other key, in the order of `feeds`. */
  readonly filmstrip: readonly string[];
}

export interface StageInputs {
  /** The tile the person pinned (ignored once it is gone). */
  readonly pinned?: string | undefined;
  /** The room's dominant speaker (a participant id). */
  readonly speaker?: string | undefined;
  /** What was on the stage before: kept when nothing above names another tile (no flapping). */
  readonly previous?: string | undefined;
  /**
   * Remote camera tiles with no picture for us: no video consumer (a student never gets another
   * student's camera; a participant who withdrew consent). A speaker's blank tile never pushes a
   * face off the stage; it gets the stage only when no remote camera has a picture (or when pinned).
   */
  readonly blank?: ReadonlySet<string>;
}

export function screenKey(participantId: string): string {
  return `${participantId}:screen`;
}

/**
 * The stage, in order of precedence: the pinned tile; else the newest remote screen share (the
 * last in `feeds`); else the active speaker's camera (a remote one with a picture); else what was
 * on the stage before, while it is a remote tile still present with a picture; else the first
 * remote camera with a picture; else the first remote camera. `feeds` is in the order the tiles
 * appeared.
 */
export function arrange(feeds: readonly Feed[], inputs: StageInputs = {}): Arrangement {
  const has = (key: string | undefined) => key !== undefined && feeds.some((f) => f.key === key);
  const remote = feeds.filter((f) => !f.local);
  const screens = remote.filter((f) => f.source === 'screen');
  const cameras = remote.filter((f) => f.source === 'camera');
  const pictured = cameras.filter((f) => !inputs.blank?.has(f.key));
  const speakerCamera = pictured.find((f) => f.participantId === inputs.speaker)?.key;
  const previous = [...screens, ...pictured].find((f) => f.key === inputs.previous)?.key
    ?? (pictured.length === 0 ? cameras.find((f) => f.key === inputs.previous)?.key : undefined);
  const stage = (has(inputs.pinned) ? inputs.pinned : undefined)
    ?? screens.at(-1)?.key
    ?? speakerCamera
    ?? previous
    ?? pictured[0]?.key
    ?? cameras[0]?.key;
  return { stage, filmstrip: feeds.filter((f) => f.key !== stage).map((f) => f.key) };
}

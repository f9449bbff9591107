import { describe, expect, it } from 'vitest';
import { arrange, screenKey, type Feed } from '../../src/client/stage-layout.ts';
import { SCREEN_THUMBNAIL_MAX_HEIGHT, spatialLayerFor } from '../../src/room/viewport.ts';

const camera = (participantId: string, local = false): Feed => ({ key: local ? 'local' : participantId, participantId, source: 'camera', local });
const screen = (participantId: string, local = false): Feed => ({ key: local ? 'local:screen' : screenKey(participantId), participantId, source: 'screen', local });

describe('the stage layout (src/client/stage-layout.ts)', () => {
  it('alone in the room: nothing on the stage, our preview in the filmstrip', () => {
    expect(arrange([camera('me', true)])).toEqual({ stage: undefined, filmstrip: ['local'] });
  });

  it('a 1:1 session: the other person on the stage, our preview small', () => {
    expect(arrange([camera('me', true), camera('stu')])).toEqual({ stage: 'stu', filmstrip: ['local'] });
  });

  it('the active speaker takes the stage; when we speak (or nobody does), the stage stays where it was', () => {
    const feeds = [camera('me', true), camera('a'), camera('b')];
    expect(arrange(feeds).stage).toBe('a');
    expect(arrange(feeds, { speaker: 'b' }).stage).toBe('b');
    expect(arrange(feeds, { speaker: 'me', previous: 'b' }).stage).toBe('b');
    expect(arrange(feeds, { speaker: undefined, previous: 'b' }).stage).toBe('b');
    // What was on the stage left: the first remote camera.
    expect(arrange([camera('me', true), camera('a')], { previous: 'b' }).stage).toBe('a');
  });

  it('a speaker whose tile has no picture for us (another student) never pushes a face off the stage', () => {
    // A student's page in a group session: the clinician has video, the other student never does.
    const feeds = [camera('me', true), camera('other-student'), camera('clin')];
    const blank = new Set(['other-student']);
    expect(arrange(feeds, { blank }).stage).toBe('clin');
    expect(arrange(feeds, { blank, speaker: 'other-student', previous: 'clin' }).stage).toBe('clin');
    expect(arrange(feeds, { blank, speaker: 'other-student' }).stage).toBe('clin');
    // What was on the stage lost its picture (consent withdrawn): a face takes the stage.
    expect(arrange(feeds, { blank: new Set(['clin']), previous: 'clin' }).stage).toBe('other-student');
    // No remote picture at all: a blank tile still fills the stage (the one there before, else the first), and a pin wins.
    const none = new Set(['other-student', 'clin']);
    expect(arrange(feeds, { blank: none, previous: 'clin' }).stage).toBe('clin');
    expect(arrange(feeds, { blank: none }).stage).toBe('other-student');
    expect(arrange(feeds, { blank, pinned: 'other-student', speaker: 'clin' }).stage).toBe('other-student');
  });

  it('a screen share wins over the speaker (the newest one when several share); our own stays small', () => {
    const feeds = [camera('me', true), camera('a'), camera('b'), screen('a'), screen('b')];
    expect(arrange(feeds, { speaker: 'a' })).toEqual({ stage: screenKey('b'), filmstrip: ['local', 'a', 'b', screenKey('a')] });
    expect(arrange([camera('me', true), camera('a'), screen('me', true)], { speaker: 'a' }).stage).toBe('a');
  });

  it('a pinned tile wins over everything, until it is gone', () => {
    const feeds = [camera('me', true), camera('a'), camera('b'), screen('a')];
    expect(arrange(feeds, { pinned: 'b', speaker: 'a' }).stage).toBe('b');
    expect(arrange(feeds, { pinned: 'local' }).stage).toBe('local');
    expect(arrange(feeds, { pinned: 'gone', speaker: 'b' }).stage).toBe(screenKey('a'));
  });
});

describe('preferred layers by tile height (src/room/viewport.ts)', () => {
  it('a camera: 180p / 360p / 720p by the tile height, capped by the layers sent', () => {
    expect([100, 200, 201, 400, 401, 1080].map((h) => spatialLayerFor(h, 2))).toEqual([0, 0, 1, 1, 2, 2]);
    expect(spatialLayerFor(720, 1)).toBe(1);
  });

  it('a screen share: the lowest layer only for a thumbnail, the top layer for any larger tile', () => {
    // A filmstrip tile (12rem wide: 108 px high, 216 at device pixel ratio 2) is a thumbnail.
    expect([108, 216, SCREEN_THUMBNAIL_MAX_HEIGHT].map((h) => spatialLayerFor(h, 2, 'screen'))).toEqual([0, 0, 0]);
    // A stage of any size: the top layer (a camera of that height would get less).
    expect([271, 400, 506, 1080].map((h) => spatialLayerFor(h, 2, 'screen'))).toEqual([2, 2, 2, 2]);
    expect(spatialLayerFor(300, 2, 'camera')).toBe(1);
    expect(spatialLayerFor(506, 1, 'screen')).toBe(1);
    expect(spatialLayerFor(506, 0, 'screen')).toBe(0);
  });
});

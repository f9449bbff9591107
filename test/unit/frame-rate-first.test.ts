import { describe, expect, it } from 'vitest';
import { AUDIO_RESERVE_BPS, FIRST_TRIAL_MS, fitLayers, HEADROOM, MAX_TRIAL_WAIT_MS, nextHold, TRIAL_MS, type Hold } from '../../src/room/frame-rate-first.ts';

/** Half-frame-rate bitrates like a camera's: 320 px ~110 kbit/s, 640 px ~330, 1280 px ~800. */
const CAMERA = [110_000, 330_000, 800_000];

describe('frame rate first: the layer that fits at half its frame rate or more', () => {
  it('a 300 kbit/s estimate fits one 640-px tile only at the 320-px layer', () => {
    expect(fitLayers(300_000, 1, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]).get('v')).toBe(0);
  });

  it('fits the tile\'s layer once it fits with headroom after the audio, not a bit/s before', () => {
    const enough = CAMERA[1]! * HEADROOM + AUDIO_RESERVE_BPS;
    expect(fitLayers(enough, 1, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]).get('v')).toBe(1);
    expect(fitLayers(enough - 1, 1, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]).get('v')).toBe(0);
  });

  it('never above the tile\'s layer however much bandwidth there is', () => {
    expect(fitLayers(50_000_000, 0, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]).get('v')).toBe(1);
  });

  it('shares the estimate in priority order: the clinician\'s view of the student first', () => {
    const videos = [
      { id: 'other', priority: 100, viewLayer: 1, layerBps: CAMERA },
      { id: 'student', priority: 200, viewLayer: 1, layerBps: CAMERA },
    ];
    const fits = fitLayers(2 * AUDIO_RESERVE_BPS + (CAMERA[1]! + CAMERA[0]!) * HEADROOM, 2, videos);
    expect(fits.get('student')).toBe(1);
    expect(fits.get('other')).toBe(0);
  });

  it('a layer the publisher is not sending (0 bit/s) never fits', () => {
    expect(fitLayers(5_000_000, 0, [{ id: 'v', priority: 100, viewLayer: 2, layerBps: [110_000, 330_000, 0] }]).get('v')).toBe(1);
  });
});

describe('frame rate first: holds and trials', () => {
  it('holds at the fit, tries the tile\'s layer after FIRST_TRIAL_MS for TRIAL_MS, then holds again and waits twice as long', () => {
    let t = 1_000_000;
    let step = nextHold(undefined, 0, 1, t);
    expect(step).toMatchObject({ spatial: 0, event: 'hold' });
    let hold: Hold | undefined = step.hold;
    step = nextHold(hold, 0, 1, (t += FIRST_TRIAL_MS - 1));
    expect(step.spatial).toBe(0);
    expect(step.event).toBeUndefined();
    step = nextHold(step.hold, 0, 1, (t += 1));
    expect(step).toMatchObject({ spatial: 1, event: 'trial' });
    hold = step.hold;
    // During the trial the consumer is free to climb, whatever the fit says.
    expect(nextHold(hold, 0, 1, t + TRIAL_MS - 1)).toMatchObject({ spatial: 1 });
    step = nextHold(hold, 0, 1, (t += TRIAL_MS));
    expect(step).toMatchObject({ spatial: 0, event: 'trial-failed' });
    expect(step.hold!.waitMs).toBe(2 * FIRST_TRIAL_MS);
    expect(step.hold!.nextTrialAt).toBe(t + 2 * FIRST_TRIAL_MS);
  });

  it('no trial while the link does not look free or media.maxOutgoingBitrate binds (mayTry false)', () => {
    const hold: Hold = { nextTrialAt: 0, waitMs: FIRST_TRIAL_MS };
    expect(nextHold(hold, 0, 1, 100_000, false)).toEqual({ hold, spatial: 0 });
  });

  it('the wait between trials stops growing at MAX_TRIAL_WAIT_MS', () => {
    let hold: Hold | undefined = { nextTrialAt: 0, waitMs: MAX_TRIAL_WAIT_MS, trialUntil: 10 };
    const step = nextHold(hold, 0, 1, 10);
    hold = step.hold;
    expect(hold!.waitMs).toBe(MAX_TRIAL_WAIT_MS);
  });

  it('a trial that made the larger layer fit ends the hold (lift); an unheld consumer that fits has nothing to say', () => {
    const trial: Hold = { nextTrialAt: 0, waitMs: FIRST_TRIAL_MS, trialUntil: 5000 };
    expect(nextHold(trial, 1, 1, 5000)).toEqual({ hold: undefined, spatial: 1, event: 'lift' });
    expect(nextHold(undefined, 1, 1, 5000)).toEqual({ hold: undefined, spatial: 1 });
  });
});

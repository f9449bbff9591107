import type { Handler } from '../handler.ts';
import { join } from './join.ts';
import { createTransport } from './create-transport.ts';
import { connectTransport } from './connect-transport.ts';
import { produce } from './produce.ts';
import { closeProducer, pauseProducer, resumeProducer } from './producer-control.ts';
import { pauseConsumer, resumeConsumer } from './consumer-control.ts';
import { restartIce } from './restart-ice.ts';
import { closeTransport } from './close-transport.ts';
import { leave } from './leave.ts';
import { withdrawConsent } from './withdraw-consent.ts';
import { grantConsent } from './grant-consent.ts';
import { updateLocation } from './update-location.ts';
import { setViewport } from './set-viewport.ts';
import { reportMediaProblem } from './report-media-problem.ts';
import { e2eeKeys } from './e2ee-keys.ts';

/** The method table: one handler per signalling method, no switch. */
export const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>(
  [join, createTransport, connectTransport, closeTransport, produce, closeProducer, pauseProducer, resumeProducer,
    resumeConsumer, pauseConsumer, restartIce, leave, withdrawConsent, grantConsent, updateLocation, setViewport, reportMediaProblem, e2eeKeys].map((h): [string, Handler] => [h.method, h]),
);

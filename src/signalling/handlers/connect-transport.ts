import { Type } from '@sinclair/typebox';
import type { types } from 'mediasoup';
import { defineHandler } from '../handler.ts';
import { DtlsParameters, MediaId } from '../schemas.ts';

/** connectTransport: completes DTLS with the client's parameters. */
export const connectTransport = defineHandler({
  method: 'connectTransport',
  schema: Type.Object({ transportId: MediaId, dtlsParameters: DtlsParameters }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    await room.connectTransport(participant, data.transportId, data.dtlsParameters as types.DtlsParameters);
    return {};
  },
});

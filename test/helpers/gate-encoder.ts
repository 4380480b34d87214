// Holds every encode, after the real encoder has done it, until release():
// the test decides what happens while a prompt is "being tokenized".
import type { ServerContext } from '../../src/server/context.js';
import type { Encoder } from '../../src/server/encoder.js';

export interface EncoderGate {
  entered: () => number;
  exited: () => number;
  release: () => void;
  /** Puts the real encoder back. */
  restore: () => void;
}

export function gateEncoder(ctx: ServerContext): EncoderGate {
  const real: Encoder = ctx.encoder;
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => { open = r; });
  let entered = 0;
  let exited = 0;
  ctx.encoder = {
    async encode(text, add) {
      entered++;
      const ids = await real.encode(text, add);
      await gate;
      exited++;
      return ids;
    },
    offloaded: () => real.offloaded(),
    close: () => real.close(),
  };
  return { entered: () => entered, exited: () => exited, release: () => { open(); }, restore: () => { ctx.encoder = real; } };
}

// The grammar checker's worker (grammar-check.ts): its own xgrammar instance
// and compiler for the model's vocabulary, which compiles each source it is
// sent once and says whether the library took it. A source the library
// refuses may leave this instance broken (its WebAssembly stack pointer is
// not restored after a throw or a trap), so the main thread retires the
// worker after an overflow, a timeout or MAX_REFUSALS refusals, and never
// compiles a refused source itself.
import { parentPort, workerData } from 'node:worker_threads';
import { GuideFactory, type GuidedVocab } from './xgrammar.js';

export interface CheckRequest {
  id: number;
  key: string;
}
export interface CheckReply {
  id: number;
  /** Why the library refused the source; null when it compiled. */
  reason: string | null;
}

const port = parentPort;
if (port !== null) {
  const factory = await GuideFactory.create((workerData as { vocab: GuidedVocab }).vocab, { checked: false });
  port.on('message', (m: CheckRequest) => {
    void factory.tryCompile(m.key).then((reason) => { port.postMessage({ id: m.id, reason } satisfies CheckReply); });
  });
  port.postMessage({ ready: true });
}

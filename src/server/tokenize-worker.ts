// Piscina worker: loads the model's tokenizer once (through the module and
// argument the server names, normally src/models/tokenizer.ts and the model
// path) and encodes long prompts off the main event loop.

import { workerData } from 'node:worker_threads';

interface WorkerTokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
}
interface LoaderModule {
  loadTokenizer(arg: string): WorkerTokenizer | Promise<WorkerTokenizer>;
}

const source = workerData as { module: string; arg: string };
const loader = (await import(source.module)) as LoaderModule;
const tokenizer = await loader.loadTokenizer(source.arg);

export default function encode(task: { text: string; addSpecialTokens: boolean }): number[] {
  return tokenizer.encode(task.text, task.addSpecialTokens);
}

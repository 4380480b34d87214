// Running from source (tsx, tap) only: worker threads do not inherit a
// TypeScript loader here, so a worker's .ts module (workerData.workerUrl)
// is loaded through tsx's API; its default export is passed on (Piscina's
// task function, for the tokenizer's worker). Built code starts the
// workers' .js files directly and never loads this file.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

const mod = await tsImport(workerData.workerUrl, import.meta.url);
export default mod.default;

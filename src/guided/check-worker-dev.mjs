// Running from source (tsx, tap) only: worker threads do not inherit a
// TypeScript loader here, so load the .ts worker through tsx's API. Built
// code uses check-worker.js directly and never loads this file.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.workerUrl, import.meta.url);

// Where a worker thread's module is, for the code that starts it. Built, it
// is the .js file beside the caller. Run from source (tsx, tap) it is .ts,
// and worker threads get no TypeScript loader, so a small .mjs bootstrap
// (ts-worker-dev.mjs, beside this file) loads it through tsx's API; the
// worker's own data gains the module's URL for it.

export interface WorkerEntry<T extends object> {
  filename: string;
  workerData: T & { workerUrl?: string };
}

/** The entry of worker module `name` (no extension) in the folder of `callerUrl` (the caller's import.meta.url). */
export function workerEntry<T extends object>(callerUrl: string, name: string, data: T): WorkerEntry<T> {
  if (!callerUrl.endsWith('.ts')) return { filename: new URL(`./${name}.js`, callerUrl).href, workerData: data };
  return {
    filename: new URL('./ts-worker-dev.mjs', import.meta.url).href,
    workerData: { ...data, workerUrl: new URL(`./${name}.ts`, callerUrl).href },
  };
}

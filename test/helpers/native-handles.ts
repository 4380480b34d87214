// Native handles released in teardown, so a test that fails half-way does
// not leak a model or a KV pool into the rest of the file. Releasing is
// idempotent (a second release answers { ok: true, value: false }), so a
// test may still release inline, and assert on it, before the teardown runs.

import type { Test } from 'tap';
import { releaseKvCache, releaseModel, type KvCacheHandle, type ModelHandle } from '../../src/native.js';

/** Releases `model` when `t` ends; returns it. */
export function ownModel<M extends ModelHandle>(t: Test, model: M): M {
  t.teardown(() => { releaseModel(model); });
  return model;
}

/** Releases `kv` when `t` ends; returns it. */
export function ownKv<K extends KvCacheHandle>(t: Test, kv: K): K {
  t.teardown(() => { releaseKvCache(kv); });
  return kv;
}

import t from 'tap';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

t.test('the addon builds and loads', (t) => {
  const addon = require('../build/Release/hipserve.node') as { abiVersion: number };
  t.equal(addon.abiVersion, 1);
  t.end();
});

// The error table: codes unique and documented, statuses valid, templates
// filled, and the OpenAI body shape.

import t from 'tap';
import { ERRORS, format, HttpError, type ErrorCode } from '../../src/server/errors.js';

t.test('every code is unique, documented and well-formed', (t) => {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  t.equal(new Set(codes.map((c) => c.toLowerCase())).size, codes.length, 'unique codes');
  for (const code of codes) {
    const spec = ERRORS[code];
    t.match(code, /^[a-z][a-z0-9_]*$/, `${code}: snake_case`);
    t.ok(spec.doc.length > 20, `${code}: documented`);
    t.ok(spec.status >= 400 && spec.status < 600, `${code}: error status`);
    t.match(spec.type, /_error$/, `${code}: OpenAI-style type`);
    t.ok(spec.template.length > 0);
  }
  t.end();
});

t.test('HttpError renders the OpenAI error body', (t) => {
  const e = new HttpError('model_not_found', ['x', 'y'], { param: 'model' });
  t.same(e.body(), { error: { message: 'The model `x` does not exist. This server serves `y`.', type: 'not_found_error', param: 'model', code: 'model_not_found' } });
  t.equal(e.status, 404);
  t.equal(format('%d of %s', [3, 'x']), '3 of x');
  t.end();
});

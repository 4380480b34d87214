// The config file's JSON Schema (`hipserve config schema`), built with
// TypeBox from the option table so editors can validate and complete it.

import { Type, type TSchema } from 'typebox';
import { OPTIONS, type OptionSpec } from './options.js';

function valueSchema(o: OptionSpec): TSchema {
  const range = {
    ...(o.min !== undefined ? { minimum: o.min } : {}),
    ...(o.max !== undefined ? { maximum: o.max } : {}),
    ...(o.exclusiveMin !== undefined ? { exclusiveMinimum: o.exclusiveMin } : {}),
  };
  switch (o.kind) {
    case 'int':
      return Type.Integer(range);
    case 'number':
      return Type.Number(range);
    case 'bool':
      return Type.Boolean();
    case 'size':
      return Type.Union([Type.Integer(range), Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?|[bB])?\\s*$' })]);
    case 'enum':
      return Type.Union((o.values ?? []).map((v) => Type.Literal(v)));
    case 'list':
      return Type.Union([Type.String(), Type.Array(Type.String())]);
    case 'string':
      return Type.String({ minLength: 1 });
  }
}

export function configJsonSchema(): TSchema {
  const props: Record<string, TSchema> = {};
  for (const o of OPTIONS) {
    const base = valueSchema(o);
    const schema = o.nullable === true ? Type.Union([base, Type.Null()]) : base;
    props[o.name] = Type.Optional(Type.Unsafe({ ...schema, description: o.help, default: o.default }));
  }
  return Type.Object(props, {
    $id: 'https://hipserve.dev/schema/serve-config.json',
    title: 'hipserve serve configuration',
    description: 'Keys are the `hipserve serve` flag names without "--" (snake_case and camelCase are accepted too).',
    additionalProperties: false,
  });
}

// `hipserve serve --help`, generated from the option table.

import { describeValid, envName, OPTIONS } from './options.js';

export function serveHelp(): string {
  const lines = ['Usage: hipserve serve [MODEL] [options]', '', 'Options (also YAML keys in --config FILE, and HIPSERVE_* environment variables):'];
  for (const o of OPTIONS) {
    const flag = o.kind === 'bool' ? `--${o.name}` : `--${o.name} <${o.kind}>`;
    const def = o.default === null ? '' : ` [default: ${Array.isArray(o.default) ? (o.default.length ? o.default.join(',') : 'none') : String(o.default)}]`;
    lines.push(`  ${flag.padEnd(36)} ${o.help}${def}`);
    lines.push(`  ${''.padEnd(36)} ${describeValid(o)}; env ${envName(o)}`);
  }
  lines.push(`  ${'--config <file>'.padEnd(36)} YAML file with the same keys (env HIPSERVE_CONFIG)`);
  lines.push('', 'Precedence: flags > environment > config file > defaults.');
  return lines.join('\n');
}

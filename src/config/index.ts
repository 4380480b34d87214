export { loadConfig, type LoadInput, type LoadResult } from './load.js';
export { ConfigError } from './errors.js';
export { configJsonSchema } from './schema.js';
export { serveHelp } from './help.js';
export { defaultConfig, OPTIONS, type ServeConfig, type Device, type LogLevel } from './options.js';
export { parseSize } from './size.js';

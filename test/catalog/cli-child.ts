// Runs the catalog CLI in its own process, for the kill -9 and concurrency tests:
//   node --import tsx test/catalog/cli-child.ts pull org/name --json
import { catalogMain } from '../../src/catalog/cli.js';

process.exitCode = await catalogMain(process.argv.slice(2));

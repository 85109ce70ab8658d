import type { Options } from 'tsup';
import shared from '../../tsup.package.js';

// The shared build of every proxykit package (see tsup.package.ts at the repository root), plus
// the `proxykit-l4` command-line entry.
const config: Options = { ...shared, entry: ['src/index.ts', 'src/cli.ts'] };

export default config;

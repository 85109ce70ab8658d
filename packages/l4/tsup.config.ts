import type { Options } from 'tsup';
import shared from '../../tsup.package.js';

// The shared build of every proxykit package (see tsup.package.ts at the repository root), plus
// the `proxykit-l4` command-line entry and the worker processes' entry. `shims` gives the CJS
// build an `import.meta.url`, from which the primary finds the worker entry beside it.
const config: Options = {
  ...shared,
  entry: ['src/index.ts', 'src/cli.ts', 'src/worker-main.ts'],
  shims: true,
};

export default config;

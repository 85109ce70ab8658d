import type { Options } from 'tsup';

// Every proxykit package is built the same way: dual ESM/CJS with separate .d.ts/.d.cts and
// sourcemaps, for Node 20, from src/index.ts, against tsconfig.build.json (which resolves sibling
// packages to their built types, as a user's install would). Packages re-export this config.
const config: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
};

export default config;

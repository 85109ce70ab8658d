import type { Options } from 'tsup';

// Dual ESM/CJS with separate .d.ts/.d.cts, as every proxykit package is built.
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

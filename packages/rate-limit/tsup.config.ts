// The shared build of every proxykit package (see tsup.package.ts at the repository root).
export { default } from '../../tsup.package.js';

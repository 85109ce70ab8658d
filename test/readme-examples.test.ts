/**
 * Why: a README example that no longer runs is worse than none. Each package's README has an
 * `## Example` section whose TypeScript block is a complete program; this test writes it next to
 * the package and runs it, with `@proxykit/*` resolved to the sources like every other test.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packagesDir = fileURLToPath(new URL('../packages/', import.meta.url));

function exampleOf(readme: string): string | undefined {
  const section = /^## Example\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  return section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1];
}

const packages = readdirSync(packagesDir).filter((name) =>
  existsSync(`${packagesDir}${name}/README.md`),
);

describe('README examples', () => {
  it.each(packages)('@proxykit/%s has an Example section with a TypeScript program', (name) => {
    expect(exampleOf(readFileSync(`${packagesDir}${name}/README.md`, 'utf8'))).toBeTruthy();
  });

  it.each(packages)('the @proxykit/%s example runs to completion', async (name) => {
    const code = exampleOf(readFileSync(`${packagesDir}${name}/README.md`, 'utf8')) ?? '';
    const file = `${packagesDir}${name}/readme-example.generated.ts`;
    writeFileSync(file, code);
    try {
      await import(/* @vite-ignore */ file);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

// The README's configuration table is the operator's reference: it must list exactly the
// variables configFromEnv reads, with the defaults and allowed values the code applies.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROXY_ENV_VARIABLES } from '../src/env-config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = /^## Configuration\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';

interface Row {
  readonly name: string;
  readonly defaultValue: string;
  readonly allowed: string;
  readonly meaning: string;
}

const rows: Row[] = section
  .split('\n')
  .filter((line) => line.startsWith('| `REVERSE_PROXY_'))
  .map((line) => {
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim().replace(/\\\|/g, '|'));
    const [name = '', defaultValue = '', allowed = '', meaning = ''] = cells;
    return {
      name: name.replace(/^`|`$/g, ''),
      defaultValue: defaultValue === '—' ? '' : defaultValue.replace(/^`|`$/g, ''),
      allowed,
      meaning,
    };
  });

describe('README configuration table', () => {
  it('lists every variable configFromEnv reads, and no other', () => {
    expect(rows.map((row) => row.name).sort()).toEqual(
      PROXY_ENV_VARIABLES.map((v) => v.name).sort(),
    );
  });

  it.each(PROXY_ENV_VARIABLES.map((v) => [v.name, v] as const))(
    '%s: default and allowed values as the code has them, and a meaning',
    (name, variable) => {
      const row = rows.find((r) => r.name === name);
      expect(row?.defaultValue).toBe(variable.defaultValue);
      expect(row?.allowed).toBe(variable.allowed);
      expect(row?.meaning.length).toBeGreaterThan(10);
    },
  );
});

// Why: CI must report how many tests ran and failed from the test runner's own reports, not from
// its human-readable summary. This reads one or more vitest JSON reports (the main run, and the
// forwarder's run on Node 24) and prints exactly one line: `tests: N passed, M failed`.
// A missing or unreadable report counts as one failure.
import { readFileSync } from 'node:fs';

const paths = process.argv.length > 2 ? process.argv.slice(2) : ['reports/vitest.json'];
let passed = 0;
let failed = 0;
for (const path of paths) {
  try {
    const report = JSON.parse(readFileSync(path, 'utf8'));
    for (const file of report.testResults ?? []) {
      for (const test of file.assertionResults ?? []) {
        if (test.status === 'passed') passed++;
        else if (test.status === 'failed') failed++;
      }
      // A file that failed to load has no assertions but must not pass silently.
      if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed++;
    }
  } catch (error) {
    console.error(`could not read the test report ${path}: ${String(error)}`);
    failed++;
  }
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;

/**
 * Why: the forwarder suite uses ApacheBench (`ab -k`), the tool the forwarder's goals are stated
 * in: a fixed number of keep-alive HTTP/1.0 requests at a fixed concurrency, one process, light
 * enough to leave the CPU to what it measures. This runs it and reads its report: requests/s,
 * failed requests (connect, receive, length and exception errors), non-2xx responses, and the
 * 50th, 99th and 100th percentiles of its per-request times (whole milliseconds).
 */
import { spawn } from 'node:child_process';
import { track, untrack } from './cleanup.js';

/** What one ab run reported. */
export interface AbResult {
  readonly requestsPerSec: number;
  readonly completed: number;
  readonly failed: number;
  readonly non2xx: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Options of {@link runAb}. */
export interface AbOptions {
  /** Path of the `ab` binary. */
  readonly ab: string;
  readonly url: string;
  readonly requests: number;
  readonly concurrency: number;
}

function field(output: string, pattern: RegExp, name: string): number {
  const match = pattern.exec(output);
  if (match?.[1] === undefined) throw new Error(`ab's report has no ${name}:\n${output}`);
  return Number(match[1]);
}

/** Reads ab's text report; throws when a figure the suite needs is missing. */
export function parseAbReport(output: string): AbResult {
  return {
    requestsPerSec: field(output, /^Requests per second:\s+([\d.]+)/m, 'requests per second'),
    completed: field(output, /^Complete requests:\s+(\d+)/m, 'complete requests'),
    failed: field(output, /^Failed requests:\s+(\d+)/m, 'failed requests'),
    non2xx:
      /^Non-2xx responses:\s+(\d+)/m.exec(output)?.[1] === undefined
        ? 0
        : field(output, /^Non-2xx responses:\s+(\d+)/m, 'non-2xx responses'),
    p50Ms: field(output, /^\s+50%\s+(\d+)/m, '50th percentile'),
    p99Ms: field(output, /^\s+99%\s+(\d+)/m, '99th percentile'),
    maxMs: field(output, /^\s+100%\s+(\d+)/m, 'longest request'),
  };
}

/** Runs ab against `url` and resolves with its parsed report. */
export function runAb(options: AbOptions): Promise<AbResult> {
  const args = [
    '-k', // keep-alive
    '-q', // no progress lines
    '-r', // count receive errors instead of stopping at the first
    '-s',
    '30',
    '-n',
    String(options.requests),
    '-c',
    String(options.concurrency),
    options.url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(options.ab, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const handle = track({
      stop: () => {
        child.kill('SIGKILL');
        return Promise.resolve();
      },
      kill: () => child.kill('SIGKILL'),
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      untrack(handle);
      try {
        if (code !== 0) throw new Error(`ab exited with ${String(code)}:\n${output.slice(-2_000)}`);
        resolve(parseAbReport(output));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

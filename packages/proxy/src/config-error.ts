/**
 * Why: a proxy that starts with a mistyped setting fails later, far from the cause. Every bad
 * setting — an environment variable or a `createProxy` option — stops start-up with one line that
 * names the setting, the value it was given and what is allowed, the way 12-factor services and
 * nginx's `nginx -t` report configuration errors. The fields are kept apart so the CLI can print
 * the line and a caller can inspect them.
 */

/** A configuration value that cannot be used. The message is one line, e.g. `REVERSE_PROXY_MAX_IN_FLIGHT="abc" is not valid: expected an integer from 1 to 1000000`. */
export class ConfigError extends RangeError {
  /** The environment variable (`REVERSE_PROXY_MAX_IN_FLIGHT`) or option (`maxInFlight`) at fault. */
  readonly variable: string;
  /** The value as the message shows it: quoted for text, masked for secrets. */
  readonly value: string;
  /** What is allowed, e.g. `an integer from 1 to 1000000`. */
  readonly allowed: string;

  /**
   * @param variable the variable or option at fault
   * @param value the offending value as it should be shown (already quoted or masked)
   * @param allowed what is allowed, completing "expected …"
   */
  constructor(variable: string, value: string, allowed: string) {
    super(oneLine(`${variable}=${value} is not valid: expected ${allowed}`));
    this.name = 'ConfigError';
    this.variable = variable;
    this.value = value;
    this.allowed = allowed;
  }
}

/** Replaces any line break or other control character so the message stays on one line. */
function oneLine(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? ' ' : char;
  }
  return out;
}

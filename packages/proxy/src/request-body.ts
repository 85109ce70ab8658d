// Why: a retry can only resend a body the proxy still has. Bodies up to the threshold are read
// into memory first (Envoy's buffer filter, nginx's `proxy_request_buffering`), so the request
// is replayable; larger ones are streamed to the upstream as they arrive, with backpressure from
// the upstream socket back to the client's, so a 1 GiB upload costs a few chunks of memory —
// and such a request is never retried. A body of unknown length (chunked) is buffered until it
// crosses the threshold, then what was read is put back in front of the stream and it streams.

import type { IncomingMessage } from 'node:http';

/** No body to send. */
export interface EmptyRequestBody {
  /** Discriminant. */
  readonly kind: 'empty';
}

/** A body read into memory: replayable on retry. */
export interface BufferedRequestBody {
  /** Discriminant. */
  readonly kind: 'buffered';
  /** The whole body. */
  readonly body: Buffer;
}

/** A body streamed from the client to the upstream as it arrives: never replayed. */
export interface StreamedRequestBody {
  /** Discriminant. */
  readonly kind: 'streamed';
  /** The client request, positioned at the start of its body. */
  readonly body: IncomingMessage;
}

/** A body above the threshold while streaming is off (answered with 413). */
export interface TooLargeRequestBody {
  /** Discriminant. */
  readonly kind: 'too-large';
}

/** What the upstream client sends as the request body. */
export type RequestBody =
  EmptyRequestBody | BufferedRequestBody | StreamedRequestBody | TooLargeRequestBody;

/** The body of a request without one. */
export const EMPTY_BODY: RequestBody = Object.freeze({ kind: 'empty' });
const TOO_LARGE: RequestBody = Object.freeze({ kind: 'too-large' });
const EMPTY_BUFFER = Buffer.alloc(0);

/** Whether the request announces a body (a Content-Length above 0 or a Transfer-Encoding). */
export function hasRequestBody(req: IncomingMessage): boolean {
  const headers = req.headers;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/** Limits of {@link readRequestBody}. */
export interface RequestBodyLimits {
  /** Bodies up to this many bytes are buffered. */
  readonly thresholdBytes: number;
  /** Stream larger bodies; when false they are refused (`too-large`, a 413). */
  readonly streamLarge: boolean;
}

/**
 * Reads or prepares the body of `req`. Resolves with a buffered body (replayable), a stream
 * (`req` itself, positioned at the start of the body), `too-large`, or rejects when the client
 * aborts or sends a broken body.
 */
export function readRequestBody(
  req: IncomingMessage,
  limits: RequestBodyLimits,
): Promise<RequestBody> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && req.headers['transfer-encoding'] === undefined) {
    const length = Number(declared);
    if (length > limits.thresholdBytes) {
      return Promise.resolve(limits.streamLarge ? { kind: 'streamed', body: req } : TOO_LARGE);
    }
  }
  return new Promise<RequestBody>((resolve, reject) => {
    new BodyBuffer(req, limits, resolve, reject).start();
  });
}

class BodyBuffer {
  readonly #chunks: Buffer[] = [];
  #size = 0;

  constructor(
    readonly req: IncomingMessage,
    readonly limits: RequestBodyLimits,
    readonly resolve: (body: RequestBody) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  start(): void {
    this.req.on('data', this.#onData);
    this.req.on('end', this.#onEnd);
    this.req.on('error', this.#onError);
    this.req.on('close', this.#onClose);
  }

  #detach(): void {
    this.req.off('data', this.#onData);
    this.req.off('end', this.#onEnd);
    this.req.off('error', this.#onError);
    this.req.off('close', this.#onClose);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size <= this.limits.thresholdBytes) return;
    this.#detach();
    if (!this.limits.streamLarge) {
      this.req.resume();
      this.resolve(TOO_LARGE);
      return;
    }
    // Put what was read back in front of the rest and let the upstream client stream it all.
    this.req.pause();
    this.req.unshift(Buffer.concat(this.#chunks, this.#size));
    this.#chunks.length = 0;
    this.resolve({ kind: 'streamed', body: this.req });
  };

  readonly #onEnd = (): void => {
    this.#detach();
    const chunks = this.#chunks;
    const body =
      chunks.length === 1 ? (chunks[0] ?? EMPTY_BUFFER) : Buffer.concat(chunks, this.#size);
    this.resolve(this.#size === 0 ? EMPTY_BODY : { kind: 'buffered', body });
  };

  readonly #onError = (error: Error): void => {
    this.#detach();
    this.reject(error);
  };

  readonly #onClose = (): void => {
    if (this.req.complete) return;
    this.#detach();
    this.reject(new Error('client closed the request before its body ended'));
  };
}

/**
 * Why: the answer to a request read on the lean path (lean-head.ts), written straight to the
 * socket: the head is built as one string and leaves with the first body bytes in one write, with
 * the framing Node's ServerResponse would choose (Content-Length kept, chunked otherwise, no body
 * for HEAD, 1xx, 204 and 304), its `Date`, and its `Connection`/`Keep-Alive` fields. It offers
 * the part of ServerResponse's interface the proxy's handlers use (`writeHead`, `write` with
 * backpressure and `drain`, `end`, `destroy`, `setHeader`/`getHeader`, `shouldKeepAlive`, and
 * 'close' once the response is done, finished or not), so the same code answers on both paths.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import type { LeanHead } from './lean-head.js';

/** Bodies up to this size are joined to their head in one latin1 string, for one write. */
const JOIN_LIMIT = 1_024;

/** The connection a lean response belongs to. */
export interface LeanResponseOwner {
  readonly socket: Socket;
  /** Node's keep-alive timeout, announced in `Keep-Alive`. */
  readonly keepAliveSeconds: number;
  /** The response ended (sent whole when `finished`); `keepAlive` says whether to read on. */
  responseDone(response: LeanResponse, finished: boolean, keepAlive: boolean): void;
}

/** The request a lean response answers: what handlers read of an IncomingMessage. */
export class LeanRequest {
  readonly method: LeanHead['method'];
  url: string;
  readonly headers: Record<string, string>;
  readonly rawHeaders: string[];
  readonly socket: Socket;
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly complete = true;

  constructor(head: LeanHead, socket: Socket) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
    this.socket = socket;
  }
}

type Listener = (this: LeanResponse) => void;

/** Date header text, renewed at most once a second (as Node's own cache). */
let dateText = '';
let dateSecond = 0;
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** The response to one {@link LeanRequest}. */
export class LeanResponse {
  statusCode = 200;
  headersSent = false;
  writableFinished = false;
  writableEnded = false;
  destroyed = false;
  closed = false;
  /** Cleared (before the head is sent) to close the connection after this response. */
  shouldKeepAlive: boolean;
  readonly req: LeanRequest;
  readonly socket: Socket;
  readonly #owner: LeanResponseOwner;
  /** No body may follow this head (HEAD, 1xx, 204, 304): body bytes are dropped, as Node does. */
  #bodiless: boolean;
  #set: Record<string, string> | undefined;
  #head = '';
  #chunked = false;
  #keepAlive = false;
  #closeListeners: Listener[] = [];
  #drainListeners: { fn: Listener; once: boolean }[] | undefined;
  #watchingDrain = false;

  constructor(owner: LeanResponseOwner, req: LeanRequest, keepAlive: boolean) {
    this.#owner = owner;
    this.req = req;
    this.socket = owner.socket;
    this.shouldKeepAlive = keepAlive;
    this.#bodiless = req.method === 'HEAD';
  }

  /**
   * Sets a header for {@link LeanResponse.writeHead} to send. Throws, as Node does, on a name or
   * value that may not be sent.
   */
  setHeader(name: string, value: string | number): this {
    validateHeaderName(name);
    (this.#set ??= {})[name.toLowerCase()] = checkedValue(name, String(value));
    return this;
  }

  /** A header set with {@link LeanResponse.setHeader}. */
  getHeader(name: string): string | undefined {
    return this.#set?.[name.toLowerCase()];
  }

  /**
   * Prepares the head (it leaves with the first write). Throws, as Node does, on a header name or
   * value that may not be sent.
   */
  writeHead(status: number, headers?: Readonly<Record<string, string | number | string[]>>): this {
    if (this.headersSent) throw new Error('headers already sent');
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw new RangeError(`invalid status code ${String(status)}, expected an integer 100–999`);
    }
    const fields = this.#set === undefined ? headers : { ...this.#set, ...headers };
    let text = '';
    let hasLength = false;
    let hasDate = false;
    let closeAsked = false;
    if (fields !== undefined) {
      for (const name in fields) {
        const value = fields[name];
        if (value === undefined) continue;
        validateHeaderName(name);
        switch (name.length === 4 || name.length >= 10 ? name.toLowerCase() : '') {
          case 'content-length':
            hasLength = true;
            break;
          case 'date':
            hasDate = true;
            break;
          case 'connection':
            // Ours is written below, from shouldKeepAlive and this.
            closeAsked = checkedValue(name, String(value)).toLowerCase().includes('close');
            continue;
          case 'transfer-encoding':
            // The framing is ours to choose (chunked unless a Content-Length is given).
            checkedValue(name, String(value));
            continue;
          default:
            break;
        }
        if (Array.isArray(value)) {
          for (const item of value) text += headerLine(name, item);
        } else {
          text += headerLine(name, String(value));
        }
      }
    }
    this.#bodiless ||= status === 204 || status === 304 || (status >= 100 && status < 200);
    this.#chunked = !this.#bodiless && !hasLength;
    this.#keepAlive = this.shouldKeepAlive && !closeAsked;
    this.statusCode = status;
    this.#head =
      `HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? 'unknown'}\r\n${text}` +
      (hasDate ? '' : `date: ${httpDate()}\r\n`) +
      (this.#chunked ? 'transfer-encoding: chunked\r\n' : '') +
      (this.#keepAlive
        ? `connection: keep-alive\r\nkeep-alive: timeout=${String(this.#owner.keepAliveSeconds)}\r\n\r\n`
        : 'connection: close\r\n\r\n');
    this.headersSent = true;
    return this;
  }

  /** Writes body bytes; false when the socket's buffer is full (wait for 'drain'). */
  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.length === 0 || this.#bodiless) return this.#flushHead();
    return this.#send(bytes, '');
  }

  /** Ends the response (after `chunk`, if given); 'close' follows once it left. */
  end(chunk?: Buffer | string): this {
    if (this.writableEnded || this.destroyed) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.writableEnded = true;
    const bytes =
      chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const trailer = this.#chunked ? '0\r\n\r\n' : '';
    if (bytes !== undefined && bytes.length > 0 && !this.#bodiless) {
      this.#send(bytes, trailer, this.#onFinished);
      return this;
    }
    const last = this.#head + trailer;
    this.#head = '';
    if (last !== '' || this.socket.writableLength !== 0) {
      this.#socketWrite(last, this.#onFinished);
    } else {
      // Everything already went to the kernel: no empty write (a system call of its own), as
      // Node's ServerResponse skips it too.
      process.nextTick(this.#onFinished);
    }
    return this;
  }

  /** Ends the response at once, closing the connection: the client sees it cut short. */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.socket.destroy();
    this.#close(false);
    return this;
  }

  /** 'close' (the response is done) and 'drain' (write more) listeners. */
  on(event: string, listener: Listener): this {
    if (event === 'close') this.#closeListeners.push(listener);
    else if (event === 'drain') this.#addDrain(listener, false);
    return this;
  }

  /** As {@link LeanResponse.on}; a 'close' listener runs once anyway. */
  once(event: string, listener: Listener): this {
    if (event === 'close') this.#closeListeners.push(listener);
    else if (event === 'drain') this.#addDrain(listener, true);
    return this;
  }

  /** Removes a listener added with on or once. */
  off(event: string, listener: Listener): this {
    if (event === 'close')
      this.#closeListeners = this.#closeListeners.filter((l) => l !== listener);
    else if (event === 'drain' && this.#drainListeners !== undefined) {
      this.#drainListeners = this.#drainListeners.filter((l) => l.fn !== listener);
    }
    return this;
  }

  /** @internal the connection closed under this response (the client left, or a reset) */
  connectionClosed(): void {
    this.destroyed = true;
    this.#close(false);
  }

  #flushHead(): boolean {
    if (this.#head === '') return !this.socket.writableNeedDrain;
    const head = this.#head;
    this.#head = '';
    return this.#socketWrite(head, undefined);
  }

  /** Writes `bytes` framed (after the pending head, if any), then `after`. */
  #send(bytes: Buffer, after: string, callback?: (error?: Error | null) => void): boolean {
    const before = this.#chunked ? `${this.#head}${bytes.length.toString(16)}\r\n` : this.#head;
    const tail = this.#chunked ? `\r\n${after}` : after;
    this.#head = '';
    if (bytes.length <= JOIN_LIMIT) {
      return this.#socketWrite(before + bytes.toString('latin1') + tail, callback);
    }
    const socket = this.socket;
    socket.cork();
    if (before !== '') socket.write(before, 'latin1');
    let ok = tail === '' ? socket.write(bytes, callback) : socket.write(bytes);
    if (tail !== '') ok = socket.write(tail, 'latin1', callback);
    socket.uncork();
    if (!ok && this.#drainListeners !== undefined) this.#watchDrain();
    return ok;
  }

  #socketWrite(text: string, callback: ((error?: Error | null) => void) | undefined): boolean {
    const ok = this.socket.write(text, 'latin1', callback);
    if (!ok && this.#drainListeners !== undefined) this.#watchDrain();
    return ok;
  }

  readonly #onFinished = (error?: Error | null): void => {
    if (error !== undefined && error !== null) {
      this.connectionClosed();
      return;
    }
    this.writableFinished = true;
    this.#close(true);
  };

  #close(finished: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener.call(this);
    this.#owner.responseDone(this, finished, this.#keepAlive && finished);
  }

  #addDrain(fn: Listener, once: boolean): void {
    (this.#drainListeners ??= []).push({ fn, once });
    if (this.socket.writableNeedDrain) this.#watchDrain();
  }

  #watchDrain(): void {
    if (this.#watchingDrain) return;
    this.#watchingDrain = true;
    this.socket.once('drain', this.#onDrain);
  }

  readonly #onDrain = (): void => {
    this.#watchingDrain = false;
    const listeners = this.#drainListeners;
    if (listeners === undefined || this.closed) return;
    this.#drainListeners = listeners.filter((l) => !l.once);
    for (const { fn } of listeners) fn.call(this);
  };
}

/** `value`, once Node's own check (the one ServerResponse makes) found nothing to refuse. */
function checkedValue(name: string, value: string): string {
  validateHeaderValue(name, value);
  return value;
}

function headerLine(name: string, value: string): string {
  return `${name}: ${checkedValue(name, value)}\r\n`;
}

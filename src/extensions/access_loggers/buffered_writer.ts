/**
 * Buffered, asynchronous log writing, as Envoy's access log files do it: `write()` only
 * appends to a buffer, and the buffer goes to the file when the flush timer fires
 * (`--file-flush-interval-msec`, 10 s by default) or as soon as it holds 64 KiB. Writes are
 * queued one after another, so lines keep their order and the request path never waits on
 * the disk.
 */
import { getLogger } from "../../common/logger.ts";

/** Where a writer's bytes go: a file, or the process's stdout / stderr. */
export interface LogSink {
  /** Writes some of `p`; returns how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** When a writer flushes. */
export interface FlushPolicy {
  /** Longest time a line waits in the buffer, in ms. */
  flushIntervalMs: number;
  /** Buffer size (in UTF-16 code units, close enough to bytes for logs) that flushes at once. */
  minFlushSize: number;
}

/** Envoy's defaults: `--file-flush-interval-msec` 10000, and a flush at 64 KiB. */
export const DEFAULT_FLUSH_POLICY: FlushPolicy = {
  flushIntervalMs: 10_000,
  minFlushSize: 64 * 1024,
};

const encoder = new TextEncoder();
const log = getLogger("file");

/** A buffered writer over a sink that can be reopened (for logrotate). */
export class BufferedWriter {
  readonly #name: string;
  readonly #open: () => LogSink;
  readonly #policy: FlushPolicy;
  #sink: LogSink;
  #pending: string[] = [];
  #pendingSize = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The last queued write; each write starts when the one before it ends. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  /**
   * Opens the sink at once, so a path that cannot be opened fails the config load.
   *
   * @param name what to call the destination in error messages (its path).
   */
  constructor(name: string, open: () => LogSink, policy: FlushPolicy = DEFAULT_FLUSH_POLICY) {
    this.#name = name;
    this.#open = open;
    this.#policy = policy;
    this.#sink = open();
  }

  /** Queues `data` (one or more complete lines) for writing. Never blocks. */
  write(data: string): void {
    if (this.#closed) return;
    this.#pending.push(data);
    this.#pendingSize += data.length;
    if (this.#pendingSize >= this.#policy.minFlushSize) {
      this.#startFlush();
    } else if (this.#timer === undefined) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        this.#startFlush();
      }, this.#policy.flushIntervalMs);
      // A pending flush must not keep the process alive; shutdown flushes explicitly.
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Writes everything buffered so far; resolves when it is on the sink. */
  flush(): Promise<void> {
    return this.#startFlush();
  }

  /** Flushes, then closes and opens the destination again (after logrotate moved it). */
  reopen(): Promise<void> {
    this.#startFlush();
    return this.#enqueue(() => {
      this.#sink.close();
      this.#sink = this.#open();
    });
  }

  /** Flushes and closes; later writes are dropped. */
  close(): Promise<void> {
    this.#startFlush();
    this.#closed = true;
    return this.#enqueue(() => this.#sink.close());
  }

  #startFlush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length === 0) return this.#queue;
    const data = encoder.encode(this.#pending.join(""));
    this.#pending = [];
    this.#pendingSize = 0;
    return this.#enqueue(() => this.#writeAll(data));
  }

  #enqueue(step: () => void | Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(step).catch((e) => {
      log.error(`access log ${this.#name}: ${e instanceof Error ? e.message : e}`);
    });
    return this.#queue;
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    for (let off = 0; off < data.length;) off += await this.#sink.write(data.subarray(off));
  }
}

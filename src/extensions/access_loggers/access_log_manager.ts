/**
 * Envoy's AccessLogManager: one buffered writer per destination, shared by every logger that
 * writes there (so two loggers on one file never interleave partial lines), with flush and
 * reopen for all of them at once (shutdown, logrotate). Each worker isolate has its own.
 */
import {
  BufferedWriter,
  DEFAULT_FLUSH_POLICY,
  type FlushPolicy,
  type LogSink,
} from "./buffered_writer.ts";

/** How a manager writes. */
export interface AccessLogManagerOptions extends Partial<FlushPolicy> {
  /** The process's standard output (tests pass their own). */
  stdout?: LogSink;
  /** The process's standard error. */
  stderr?: LogSink;
}

/** Paths that name the process's own streams rather than files to open. */
export const STDOUT_PATH = "/dev/stdout";
export const STDERR_PATH = "/dev/stderr";

function fileSink(path: string): LogSink {
  try {
    return Deno.openSync(path, { append: true, create: true });
  } catch (e) {
    throw new Error(`unable to open access log file '${path}': ${(e as Error).message}`);
  }
}

/** A sink over a standard stream, which closing must leave open. */
function streamSink(stream: { write(p: Uint8Array): Promise<number> }): LogSink {
  return { write: (p) => stream.write(p), close() {} };
}

/** The writers of one isolate's access logs. */
export class AccessLogManager {
  readonly #policy: FlushPolicy;
  readonly #stdout: LogSink;
  readonly #stderr: LogSink;
  readonly #writers = new Map<string, BufferedWriter>();

  constructor(opts: AccessLogManagerOptions = {}) {
    this.#policy = {
      flushIntervalMs: opts.flushIntervalMs ?? DEFAULT_FLUSH_POLICY.flushIntervalMs,
      minFlushSize: opts.minFlushSize ?? DEFAULT_FLUSH_POLICY.minFlushSize,
    };
    this.#stdout = opts.stdout ?? streamSink(Deno.stdout);
    this.#stderr = opts.stderr ?? streamSink(Deno.stderr);
  }

  /**
   * The writer for `path`, opened (for append, created if missing) on first use.
   * `/dev/stdout` and `/dev/stderr` are the process's streams.
   *
   * @throws {Error} when the file cannot be opened.
   */
  writer(path: string): BufferedWriter {
    let w = this.#writers.get(path);
    if (!w) {
      const open = path === STDOUT_PATH
        ? () => this.#stdout
        : path === STDERR_PATH
        ? () => this.#stderr
        : () => fileSink(path);
      w = new BufferedWriter(path, open, this.#policy);
      this.#writers.set(path, w);
    }
    return w;
  }

  /** Writes out every buffer. */
  async flush(): Promise<void> {
    await Promise.all([...this.#writers.values()].map((w) => w.flush()));
  }

  /** Reopens every file, as Envoy does on `SIGUSR1` after logrotate moved them. */
  async reopen(): Promise<void> {
    await Promise.all([...this.#writers.values()].map((w) => w.reopen()));
  }

  /** Flushes and closes every writer; the manager can then be dropped. */
  async close(): Promise<void> {
    const writers = [...this.#writers.values()];
    this.#writers.clear();
    await Promise.all(writers.map((w) => w.close()));
  }
}

let shared: AccessLogManager | undefined;

/** The isolate's manager with Envoy's default flush policy, created on first use. */
export function defaultAccessLogManager(): AccessLogManager {
  return shared ??= new AccessLogManager();
}

/**
 * Sets the process-wide manager's flush interval (`--file-flush-interval-msec`); must run
 * before the first access log is created.
 */
export function configureDefaultAccessLogManager(flushIntervalMs: number): void {
  if (shared) throw new Error("access logs already created: configure the manager first");
  shared = new AccessLogManager({ flushIntervalMs });
}

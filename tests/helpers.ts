/** Helpers for integration tests that run the real `main.ts` as a process. */

/**
 * What the tests run: main.ts, or the artifact named by `DENVOY_UNDER_TEST` (the bundle
 * `dist/denvoy.js`, or a compiled binary), so the same tests prove the shipped artifact.
 */
export const MAIN = Deno.env.get("DENVOY_UNDER_TEST") ||
  new URL("../main.ts", import.meta.url).pathname;

/** The command and leading arguments that start denvoy under test. */
export function denvoyCommand(): [string, string[]] {
  // A compiled binary runs itself; a module runs under this deno.
  return /\.[jt]s$/.test(MAIN)
    ? [Deno.execPath(), ["run", "-A", "--unstable-net", MAIN]]
    : [MAIN, []];
}

/** What a finished run printed and returned. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `args` with `--use-dynamic-base-id` in front unless they choose the hot restart set-up: every
 * serving process binds a hot restart domain socket named from its base id, as in Envoy, so
 * servers that tests run side by side (and beside other test runs) each take an unused one,
 * unless the test is about hot restart.
 */
function withDynamicBaseId(args: string[]): string[] {
  const hotRestartFlag = args.some((a) =>
    /^--(base-id|restart-epoch|use-dynamic-base-id|disable-hot-restart)(=|$)/.test(a)
  );
  return hotRestartFlag ? args : ["--use-dynamic-base-id", ...args];
}

/**
 * Runs `main.ts` with `args` to completion. A run that serves (no `--mode`, no `--help` or
 * `--version`) takes a free hot restart base id unless `args` choose one.
 */
export async function runMain(args: string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  const [cmd, lead] = denvoyCommand();
  const serves = !args.some((a) => /^(--mode|--help|-h|--version)(=|$)/.test(a));
  const out = await new Deno.Command(cmd, {
    args: [...lead, ...(serves ? withDynamicBaseId(args) : args)],
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A temp file holding `text`. */
export function tempFile(text: string | Uint8Array, suffix = ".yaml"): string {
  const path = Deno.makeTempFileSync({ prefix: "denvoy-test-", suffix });
  if (typeof text === "string") Deno.writeTextFileSync(path, text);
  else Deno.writeFileSync(path, text);
  return path;
}

/** A running main.ts in serve mode, with its stderr collected as it arrives. */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  stderr = "";
  #waiters: { re: RegExp; resolve: () => void }[] = [];
  readonly #pump: Promise<void>;

  constructor(args: string[]) {
    const [cmd, lead] = denvoyCommand();
    this.child = new Deno.Command(cmd, {
      args: [...lead, ...withDynamicBaseId(args)],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const child = this.child;
    this.#pump = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child.stderr) {
        this.stderr += dec.decode(chunk, { stream: true });
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.re.test(this.stderr)) return true;
          w.resolve();
          return false;
        });
      }
    })();
  }

  /**
   * Resolves once stderr matches `re`; rejects if the process exits first or after `ms` (a
   * bound for a hung process: start-up alone can take many seconds on a loaded machine).
   */
  waitFor(re: RegExp, ms = 60_000): Promise<void> {
    if (re.test(this.stderr)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}`)), ms);
      this.#waiters.push({
        re,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.child.status.then((s) => {
        clearTimeout(timer);
        reject(new Error(`exited (${s.code}) before ${re}:\n${this.stderr}`));
      });
    });
  }

  /**
   * The exit status once the process has exited on its own and all it wrote to stderr has been
   * read: the status comes as the process ends, its last log lines may still be in the pipe.
   */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#pump;
    return status;
  }

  /**
   * Sends `signal` and waits for the exit status. SIGINT by default: it quits at once, where
   * SIGTERM would first drain the connections a test left open.
   */
  async stop(signal: Deno.Signal = "SIGINT"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    return await this.exited();
  }
}

/**
 * A port that was free a moment ago (bound to 0, then released), for servers that take no
 * port 0 (nginx, nghttpd, s_server) and configs written before the proxy starts.
 */
export function freePort(hostname = "127.0.0.1"): number {
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

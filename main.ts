/**
 * denvoy's entry point: Envoy's command line -> options -> server.
 *
 * Exit codes follow Envoy: 0 on success (including `--mode validate` of a good config,
 * `--help` and `--version`), 1 for bad flags, bad configs and start-up failures.
 */
import { configureLogging, getLogger } from "./src/common/logger.ts";
import { builtinExtensions } from "./src/extensions/builtin.ts";
import { parseOptions } from "./src/server/options.ts";
import { type Console, loadConfig, Server } from "./src/server/server.ts";
import { WorkerPool } from "./src/server/worker_pool.ts";

const encoder = new TextEncoder();
const stdio: Console = {
  out: (t) => Deno.stdout.writeSync(encoder.encode(t)),
  err: (t) => Deno.stderr.writeSync(encoder.encode(t)),
};

/** Runs denvoy with `argv`; resolves to the process exit code. */
export async function main(argv: string[], console: Console = stdio): Promise<number> {
  const parsed = parseOptions(argv);
  if (!parsed.ok) {
    (parsed.toStdout ? console.out : console.err)(parsed.message);
    return parsed.exitCode;
  }
  const options = parsed.options;
  try {
    configureLogging({
      level: options.logLevel,
      componentLevels: options.componentLogLevels,
      format: options.logFormat,
      escape: options.logFormatEscaped,
      path: options.logPath || undefined,
    });
  } catch (e) {
    console.err(`error: ${(e as Error).message}\n`);
    return 1;
  }
  const log = getLogger("main");
  for (const w of options.warnings) log.warn(w);

  const workers = new WorkerPool();
  // One worker loads its modules while the config loads; the others start once it serves.
  if (options.mode === "serve") workers.prespawn(Math.min(1, options.concurrency));
  const extensions = builtinExtensions();
  const bootstrap = loadConfig(options, extensions, console);
  if (!bootstrap) return 1;
  if (options.mode === "validate") {
    console.out(`configuration '${options.configPath || "--config-yaml"}' OK\n`);
    return 0;
  }
  const server = new Server(bootstrap, options, extensions, workers);
  try {
    await server.initialize();
    if (options.mode === "init_only") {
      log.info("init_only mode: initialized, exiting");
      return 0;
    }
    await server.run();
  } catch (e) {
    // Start-up failures (a port in use, a cluster that cannot be built) are operator errors.
    log.critical(`error initializing server: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}

/** Runs the command line in `Deno.args` and exits with its code (main.ts, and the bundle). */
export async function runCli(): Promise<never> {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    // An internal error is a bug: say so plainly, with the stack only when asked for.
    const err = e as Error;
    const debug = Deno.args.some((a, i) =>
      /^(-l|--log-level)=?(trace|debug)$/.test(a) ||
      ((a === "-l" || a === "--log-level") && /^(trace|debug)$/.test(Deno.args[i + 1] ?? ""))
    );
    stdio.err(`critical: internal error: ${err?.message ?? String(e)}\n`);
    if (debug && err?.stack) stdio.err(err.stack + "\n");
    code = 1;
  }
  Deno.exit(code);
}

if (import.meta.main) await runCli();

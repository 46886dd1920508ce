/**
 * A real statsd server for integration tests: Etsy's statsd daemon (the reference
 * implementation, npm package `statsd`), fetched by npx on first use and run with node,
 * listening on loopback with a UDP and a TCP server. Tests read what it aggregated through its
 * management interface (`counters`, `gauges`, `timers`), as an operator would.
 */

/** The statsd version the tests run. */
const STATSD = "statsd@0.9.0";

let binPath: Promise<string> | undefined;

/** Where npx installed statsd's entry script (installing it the first time). */
function statsdBin(): Promise<string> {
  binPath ??= (async () => {
    const out = await new Deno.Command("npx", {
      args: ["-y", "-p", STATSD, "sh", "-c", 'readlink -f "$(command -v statsd)"'],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const path = new TextDecoder().decode(out.stdout).trim();
    if (out.code !== 0 || path === "") {
      throw new Error(
        `cannot install ${STATSD} with npx: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return path;
  })();
  return binPath;
}

/** A free loopback port (TCP and UDP alike are free on it when this returns). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A running statsd. */
export class Statsd {
  private constructor(
    readonly child: Deno.ChildProcess,
    readonly udpPort: number,
    readonly tcpPort: number,
    readonly mgmtPort: number,
    readonly configPath: string,
  ) {}

  /** Starts statsd; resolves once its management interface answers. */
  static async start(): Promise<Statsd> {
    const bin = await statsdBin();
    const [udpPort, tcpPort, mgmtPort] = [freePort(), freePort(), freePort()];
    const configPath = await Deno.makeTempFile({ prefix: "statsd-", suffix: ".js" });
    // Aggregates are read, not flushed: no backends, and a flush interval longer than a test.
    await Deno.writeTextFile(
      configPath,
      `{
  servers: [
    { server: "./servers/udp", address: "127.0.0.1", port: ${udpPort} },
    { server: "./servers/tcp", address: "127.0.0.1", port: ${tcpPort} }
  ],
  mgmt_address: "127.0.0.1",
  mgmt_port: ${mgmtPort},
  backends: [],
  flushInterval: 3600000
}`,
    );
    const child = new Deno.Command("node", {
      args: [bin, configPath],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const s = new Statsd(child, udpPort, tcpPort, mgmtPort, configPath);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await s.query("health");
        return s;
      } catch (e) {
        if (Date.now() > deadline) {
          await s.stop();
          throw new Error(`statsd did not start: ${(e as Error).message}`);
        }
        // Not listening yet: try again once the connection attempt has failed.
      }
    }
  }

  /** Sends a management command; resolves with its answer (up to `END`). */
  async query(command: string): Promise<string> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.mgmtPort });
    try {
      await conn.write(new TextEncoder().encode(`${command}\n`));
      const dec = new TextDecoder();
      let text = "";
      const buf = new Uint8Array(65536);
      while (!/^END$/m.test(text) && !/^health: /m.test(text)) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n), { stream: true });
      }
      return text;
    } finally {
      conn.close();
    }
  }

  /** The aggregated counters or gauges (numbers by key). */
  async numbers(kind: "counters" | "gauges"): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [k, v] of entries(await this.query(kind))) out[k] = Number(v);
    return out;
  }

  /** The timer values received since statsd started, by key. */
  async timers(): Promise<Record<string, number[]>> {
    const out: Record<string, number[]> = {};
    for (const [k, v] of entries(await this.query("timers"))) {
      out[k] = v.replace(/^\[|\]$/g, "").split(",").map((x) => x.trim()).filter((x) => x)
        .map(Number);
    }
    return out;
  }

  /**
   * Resolves once `check` holds for what statsd aggregated; rejects with the last state seen
   * after `ms`.
   */
  async waitFor(
    check: (s: { counters: Record<string, number>; timers: Record<string, number[]> }) => boolean,
    ms = 20_000,
  ): Promise<{ counters: Record<string, number>; timers: Record<string, number[]> }> {
    const deadline = Date.now() + ms;
    for (;;) {
      const state = { counters: await this.numbers("counters"), timers: await this.timers() };
      if (check(state)) return state;
      if (Date.now() > deadline) {
        throw new Error(`statsd never got there; it has ${JSON.stringify(state)}`);
      }
      // Each round trip to the management port takes a moment; no sleep is needed between.
    }
  }

  /** Stops statsd. */
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.child.status;
    await Deno.remove(this.configPath).catch(() => {});
  }
}

/**
 * The `key: value` pairs of node's `util.inspect` of a flat object, which is how statsd's
 * management interface prints its aggregates (`{ 'a.b': 1, 'c;t=v': [ 1, 2 ] }`).
 */
function entries(text: string): [string, string][] {
  const out: [string, string][] = [];
  const re = /(?:'((?:[^'\\]|\\.)*)'|([A-Za-z_$][\w$]*)): (\[[^\]]*\]|[^,\n}]+)/g;
  for (const m of text.matchAll(re)) out.push([m[1] ?? m[2], m[3].trim()]);
  return out;
}

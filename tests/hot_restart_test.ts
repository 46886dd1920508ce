/**
 * Hot restart, Envoy's model: epoch N+1 finds epoch N through the domain socket named from the
 * base id, takes its listen addresses and admin over, serves, and has it drain and exit after
 * --parent-shutdown-time-s; counters continue across epochs. Driven under load by real clients
 * (keep-alive connections and a connection per request), which must see no socket error and
 * no non-2xx response.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStats, adminStatsWhen, Proxy } from "./proxy.ts";
import { ServerProcess, tempFile } from "./helpers.ts";
import { Http1Client } from "./http1_client.ts";

/** A listener answering every request with `body` (direct_response), on an ephemeral port. */
function config(body: string): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: / }
                direct_response: { status: 200, body: { inline_string: "${body}" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`;
}

/** A base id no other test run uses at the same time. */
function freshBaseId(): number {
  return 100_000 + Math.floor(Math.random() * 1_000_000);
}

function epochArgs(baseId: number, epoch: number, extra: string[] = [], shutdownS = 1): string[] {
  return [
    "--base-id",
    `${baseId}`,
    "--restart-epoch",
    `${epoch}`,
    "--drain-strategy",
    "immediate",
    "--parent-shutdown-time-s",
    `${shutdownS}`,
    ...extra,
  ];
}

Deno.test("hot restart: the next epoch takes the listener over, the parent drains and exits after --parent-shutdown-time-s, counters continue", async () => {
  const baseIdPath = tempFile("", ".txt");
  const e0 = await Proxy.start(config("epoch0"), [
    "--use-dynamic-base-id",
    "--base-id-path",
    baseIdPath,
    "--drain-strategy",
    "immediate",
  ]);
  const baseId = Number(Deno.readTextFileSync(baseIdPath));
  assert(baseId > 0);
  const port = e0.port();
  const keep = await Http1Client.connect(port);
  for (let i = 0; i < 3; i++) assertEquals((await keep.get("/")).body, "epoch0");

  // The parent's shutdown time runs from a moment after this: a bound that holds however late
  // the test sees the child's log.
  const e1StartedAt = performance.now();
  const e1 = await Proxy.start(config("epoch1"), epochArgs(baseId, 1, [], 2));
  assertEquals(e1.port(), port);
  await e1.proc.waitFor(/hot restart: parent draining/);
  // The parent's keep-alive connection is served once more and told to go.
  const last = await keep.get("/");
  assertEquals(last.body, "epoch0");
  assertEquals(last.headers["connection"], "close");
  assert(await keep.waitClosed());
  // New connections reach the new epoch, with its config.
  const fresh = await Http1Client.connect(port);
  assertEquals((await fresh.get("/")).body, "epoch1");

  const s = await adminStatsWhen(e1.adminPort, (s) => s["http.test.downstream_rq_total"] >= 5);
  assertEquals(s["server.hot_restart_epoch"], 1);
  assertEquals(s["server.hot_restart_generation"], 2);
  assertEquals(s["http.test.downstream_cx_drain_close"] >= 1, true);

  // The parent stays until the child's parent shutdown time is over, then exits cleanly.
  assertEquals((await e0.proc.exited()).code, 0);
  assert(performance.now() - e1StartedAt >= 1990, "the parent exited before its shutdown time");
  assertMatch(e0.proc.stderr, /the next epoch asks this one to shut down/);
  await e1.proc.waitFor(/hot restart: parent shut down/);
  const after = await adminStats(e1.adminPort);
  assert(after["http.test.downstream_rq_total"] >= 5, JSON.stringify(after));
  assertEquals(after["server.parent_connections"], 0);
  fresh.close();
  await e0.stop();
  await e1.stop();
});

/** Load from keep-alive clients and from a connection per request, until `stop()`. */
function load(port: number, keepAlive: number, perRequest: number) {
  const result = { ok: 0, non2xx: 0, errors: [] as string[], bodies: new Set<string>() };
  let running = true;
  const record = (r: { status: number; body: string }) => {
    if (r.status >= 200 && r.status < 300) result.ok++;
    else result.non2xx++;
    result.bodies.add(r.body);
  };
  const keepAliveLoop = async () => {
    while (running) {
      let c: Http1Client | undefined;
      try {
        c = await Http1Client.connect(port);
        while (running) {
          const r = await c.get("/");
          record(r);
          if (r.headers["connection"] === "close") break;
        }
      } catch (e) {
        result.errors.push(`keep-alive: ${(e as Error).message}`);
      } finally {
        c?.close();
      }
    }
  };
  const perRequestLoop = async () => {
    while (running) {
      let c: Http1Client | undefined;
      try {
        c = await Http1Client.connect(port);
        record(await c.get("/", { connection: "close" }));
      } catch (e) {
        result.errors.push(`new connection: ${(e as Error).message}`);
      } finally {
        c?.close();
      }
    }
  };
  const loops = [
    ...Array.from({ length: keepAlive }, keepAliveLoop),
    ...Array.from({ length: perRequest }, perRequestLoop),
  ];
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

Deno.test(
  "hot restart under load: three restarts in a row, no socket error, no non-2xx, counters continue",
  () => underLoad(),
);

async function underLoad(): Promise<void> {
  const baseId = freshBaseId();
  // The shortest shutdown time, shorter than the parent's steered accept window: the parent
  // still stops accepting, and finishes what it accepted, before it is told to exit.
  const shutdownS = 1;
  let current = await Proxy.start(config("epoch0"), epochArgs(baseId, 0, [], shutdownS));
  const port = current.port();
  const traffic = load(port, 4, 2);
  const parents: Proxy[] = [];
  for (let epoch = 1; epoch <= 3; epoch++) {
    // Some traffic on each epoch before it is replaced.
    const seen = traffic.result.ok;
    while (traffic.result.ok < seen + 50) await new Promise((r) => setTimeout(r, 10));
    const next = await Proxy.start(
      config(`epoch${epoch}`),
      epochArgs(baseId, epoch, [], shutdownS),
    );
    assertEquals(next.port(), port);
    await next.proc.waitFor(/hot restart: parent shut down/);
    assert(!/cannot be steered/.test(next.proc.stderr), next.proc.stderr);
    assertEquals((await current.proc.child.status).code, 0);
    parents.push(current);
    current = next;
  }
  const seen = traffic.result.ok;
  while (traffic.result.ok < seen + 50) await new Promise((r) => setTimeout(r, 10));
  const r = await traffic.stop();
  assertEquals(r.errors, []);
  assertEquals(r.non2xx, 0);
  assertEquals([...r.bodies].sort(), ["epoch0", "epoch1", "epoch2", "epoch3"]);
  // Every request of every epoch is counted by the last one.
  const s = await adminStatsWhen(
    current.adminPort,
    (s) => s["http.test.downstream_rq_total"] === r.ok,
  );
  assertEquals(s["server.hot_restart_epoch"], 3);
  assertEquals(s["server.hot_restart_generation"], 4);
  for (const p of parents) await p.stop();
  await current.stop();
}

Deno.test("hot restart: a second process with the same base id and epoch is refused clearly", async () => {
  const baseId = freshBaseId();
  const first = await Proxy.start(config("a"), epochArgs(baseId, 0));
  const second = new ServerProcess(["-c", tempFile(config("b")), ...epochArgs(baseId, 0)]);
  const status = await second.child.status;
  await second.stop();
  assertEquals(status.code, 1);
  assertMatch(
    second.stderr,
    new RegExp(
      `unable to bind domain socket with base_id=${baseId}, id=${
        baseId * 10
      }, errno=98 \\(see --base-id option\\)`,
    ),
  );
  // The first one is untouched.
  const c = await Http1Client.connect(first.port());
  assertEquals((await c.get("/")).body, "a");
  c.close();
  await first.stop();
});

Deno.test("hot restart: a parent that died before the hand-over", async () => {
  const baseId = freshBaseId();
  const parent = await Proxy.start(config("parent"), epochArgs(baseId, 0));
  await parent.proc.stop("SIGKILL");
  // Envoy refuses to start an epoch without its parent...
  const refused = new ServerProcess(["-c", tempFile(config("child")), ...epochArgs(baseId, 1)]);
  assertEquals((await refused.child.status).code, 1);
  await refused.stop();
  assertMatch(
    refused.stderr,
    /no parent process \(epoch 0, base id \d+\) listens on @envoy_domain_socket_parent_\d+/,
  );
  assertMatch(refused.stderr, /--skip-hot-restart-on-no-parent/);
  // ...unless told to start without one: it binds the listeners itself, and says so.
  const child = await Proxy.start(
    config("child"),
    epochArgs(baseId, 1, ["--skip-hot-restart-on-no-parent"]),
  );
  assertMatch(child.proc.stderr, /falling back to a regular start: binding the listeners/);
  const c = await Http1Client.connect(child.port());
  assertEquals((await c.get("/")).body, "child");
  c.close();
  const s = await adminStats(child.adminPort);
  assertEquals(s["server.hot_restart_epoch"], 1);
  assertEquals(s["server.hot_restart_generation"], 1);
  await child.stop();
});

function hasWrk(): boolean {
  try {
    return new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().code !== 127;
  } catch {
    return false;
  }
}
const wrk = hasWrk();

Deno.test({
  name: wrk
    ? "hot restart under wrk with two workers: two restarts, no socket error, no non-2xx"
    : "hot restart under wrk (skipped: wrk is not installed)",
  ignore: !wrk,
  fn: () => underWrk(),
});

async function underWrk(): Promise<void> {
  const baseId = freshBaseId();
  const args = (epoch: number) => epochArgs(baseId, epoch, ["--concurrency", "2"]);
  let current = await Proxy.start(config("epoch0"), args(0));
  const port = current.port();
  // Runs until interrupted (SIGINT makes wrk stop and print its summary).
  const load = new Deno.Command("wrk", {
    args: ["-t", "1", "-c", "8", "-d", "600s", `http://127.0.0.1:${port}/`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = load.output();
  let served = 0;
  const progress = async () => {
    const s = await adminStatsWhen(
      current.adminPort,
      (s) => s["http.test.downstream_rq_total"] >= served + 200,
      30_000,
    );
    served = s["http.test.downstream_rq_total"];
  };
  const parents: Proxy[] = [];
  try {
    // Two restarts: epoch 1 is a child, then a parent. The epoch that takes epoch 0's socket
    // name (3) is the test under load's.
    for (let epoch = 1; epoch <= 2; epoch++) {
      await progress();
      const next = await Proxy.start(config(`epoch${epoch}`), args(epoch));
      await next.proc.waitFor(/hot restart: parent shut down/);
      assertEquals((await current.proc.child.status).code, 0);
      parents.push(current);
      current = next;
    }
    await progress();
  } finally {
    load.kill("SIGINT");
  }
  const out = new TextDecoder().decode((await output).stdout);
  assertMatch(out, /\d+ requests in/);
  assert(!/Socket errors/.test(out), out);
  assert(!/Non-2xx or 3xx responses/.test(out), out);
  const s = await adminStats(current.adminPort);
  assertEquals(s["server.hot_restart_generation"], 3);
  for (const p of parents) await p.stop();
  await current.stop();
}

/** One h2load run's request counts, from its summary. */
interface H2loadRun {
  started: number;
  done: number;
  succeeded: number;
  timeout: number;
  non2xx: number;
  /** What h2load printed. */
  out: string;
}

function parseH2load(out: string): H2loadRun {
  const rq =
    /requests: \d+ total, (\d+) started, (\d+) done, (\d+) succeeded, \d+ failed, \d+ errored, (\d+) timeout/
      .exec(out);
  const codes = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (!rq || !codes) throw new Error(`h2load printed no summary:\n${out}`);
  const [started, done, succeeded, timeout] = rq.slice(1).map(Number);
  return {
    started,
    done,
    succeeded,
    timeout,
    non2xx: codes.slice(1).reduce((a, b) => a + +b, 0),
    out,
  };
}

Deno.test("hot restart under h2load over HTTP/2: two restarts, every request the proxy receives is answered 2xx, no connection cut", async () => {
  const baseId = freshBaseId();
  let current = await Proxy.start(config("epoch0"), epochArgs(baseId, 0));
  const port = current.port();
  // Short h2load runs back to back (4 connections, 8 streams each): those under way when the
  // parent drains get its GOAWAY. h2load (nghttp2 1.52) opens no new connection after a
  // GOAWAY: the requests it then never sends, and those it had queued but not yet sent, count
  // as failed on its side. Every request that reached the proxy must reach h2load with a 2xx,
  // and no connection may end with a request in flight.
  const runs: H2loadRun[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const out = await new Deno.Command("h2load", {
        args: ["-n", "400", "-c", "4", "-m", "8", `http://127.0.0.1:${port}/`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      runs.push(parseH2load(new TextDecoder().decode(out.stdout)));
    }
  })();
  const parents: Proxy[] = [];
  try {
    // Two restarts: epoch 1 is a child, then a parent. The epoch that takes epoch 0's socket
    // name (3) is the test under load's.
    for (let epoch = 1; epoch <= 2; epoch++) {
      const seen = runs.length;
      while (runs.length < seen + 1) await new Promise((r) => setTimeout(r, 10));
      const next = await Proxy.start(config(`epoch${epoch}`), epochArgs(baseId, epoch));
      await next.proc.waitFor(/hot restart: parent shut down/);
      assertEquals((await current.proc.child.status).code, 0);
      parents.push(current);
      current = next;
    }
    const seen = runs.length;
    while (runs.length < seen + 1) await new Promise((r) => setTimeout(r, 10));
  } finally {
    running = false;
    await loop;
  }
  for (const r of runs) {
    assertEquals([r.done, r.timeout, r.non2xx], [r.started, 0, 0], r.out);
  }
  const answered = runs.reduce((n, r) => n + r.succeeded, 0);
  // The last epoch counts the requests of every epoch: each one the proxy received is one
  // h2load got a 2xx for.
  const s = await adminStatsWhen(
    current.adminPort,
    (s) => s["server.parent_connections"] === 0 && s["http.test.downstream_rq_total"] >= answered,
  );
  assertEquals(s["http.test.downstream_rq_total"], answered);
  assertEquals(s["http.test.downstream_rq_2xx"], answered);
  assertEquals(s["http.test.downstream_rq_http2_total"], answered);
  for (const name of ["cx_destroy_active_rq", "rq_rx_reset", "rq_tx_reset"]) {
    assertEquals(s[`http.test.downstream_${name}`], 0, name);
  }
  assertEquals(s["server.hot_restart_generation"], 3);
  for (const p of parents) await p.stop();
  await current.stop();
});

Deno.test("hot restart: SIGTERM to a parent draining gradually drains its connections now and exits", async () => {
  const baseId = freshBaseId();
  const gradual = ["--drain-strategy", "gradual", "--drain-time-s", "600"];
  const e0 = await Proxy.start(config("epoch0"), ["--base-id", `${baseId}`, ...gradual]);
  const keep = await Http1Client.connect(e0.port());
  assertEquals((await keep.get("/")).body, "epoch0");
  const e1 = await Proxy.start(config("epoch1"), epochArgs(baseId, 1, [], 600));
  await e1.proc.waitFor(/hot restart: parent draining/);
  e0.proc.child.kill("SIGTERM");
  await e0.proc.waitFor(/draining 1 listener\(s\) for at most 600s/);
  // The main thread logs the drain before the worker has applied it: the keep-alive
  // connection is served by epoch 0 until a response tells it to close (no fixed wait).
  let last = await keep.get("/");
  for (let i = 0; i < 200 && last.headers["connection"] !== "close"; i++) {
    assertEquals(last.body, "epoch0");
    last = await keep.get("/");
  }
  assertEquals(last.body, "epoch0");
  assertEquals(last.headers["connection"], "close");
  assert(await keep.waitClosed());
  assertEquals((await e0.proc.exited()).code, 0);
  assertMatch(e0.proc.stderr, /all connections drained/);
  const c = await Http1Client.connect(e1.port());
  assertEquals((await c.get("/")).body, "epoch1");
  c.close();
  await e0.stop();
  await e1.stop();
});

/** Two listeners answering `body`, the second with `drain_type: MODIFY_ONLY`. */
function twoListeners(body: string): string {
  const listener = (name: string, extra: string) => `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }${extra}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: / }
                direct_response: { status: 200, body: { inline_string: "${body}" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:${listener("dflt", "")}${listener("modify_only", "\n    drain_type: MODIFY_ONLY")}
`;
}

Deno.test("hot restart: the parent drains DEFAULT listeners' connections, not MODIFY_ONLY ones", async () => {
  const baseId = freshBaseId();
  const e0 = await Proxy.start(twoListeners("epoch0"), epochArgs(baseId, 0));
  const dflt = await Http1Client.connect(e0.port("dflt"));
  const modifyOnly = await Http1Client.connect(e0.port("modify_only"));
  assertEquals((await dflt.get("/")).body, "epoch0");
  assertEquals((await modifyOnly.get("/")).body, "epoch0");
  const e1 = await Proxy.start(twoListeners("epoch1"), epochArgs(baseId, 1, [], 600));
  assertEquals(e1.ports, e0.ports);
  await e1.proc.waitFor(/hot restart: parent draining/);
  assertEquals((await dflt.get("/")).headers["connection"], "close");
  const kept = await modifyOnly.get("/");
  assertEquals(kept.body, "epoch0");
  assertEquals(kept.headers["connection"], undefined);
  const fresh = await Http1Client.connect(e1.port("modify_only"));
  assertEquals((await fresh.get("/")).body, "epoch1");
  // The parent's connection that stays counts in both processes' totals.
  assert(await dflt.waitClosed());
  const s = await adminStatsWhen(e1.adminPort, (s) => s["server.parent_connections"] === 1);
  assertEquals(s["server.total_connections"], 2);
  assertEquals(s["http.modify_only.downstream_cx_active"], 2);
  for (const c of [dflt, modifyOnly, fresh]) c.close();
  await e0.stop();
  await e1.stop();
});

Deno.test("--disable-hot-restart: no domain socket, so the same base id and epoch can run twice", async () => {
  const baseId = freshBaseId();
  const args = ["--base-id", `${baseId}`, "--disable-hot-restart"];
  const a = await Proxy.start(config("a"), args);
  const b = await Proxy.start(config("b"), args);
  assert(!/domain socket/.test(a.proc.stderr + b.proc.stderr));
  await a.stop();
  await b.stop();
});

Deno.test("hot restart: a parent whose child dies after the hand-over exits after its own --parent-shutdown-time-s", async () => {
  const baseId = freshBaseId();
  const e0 = await Proxy.start(config("epoch0"), epochArgs(baseId, 0));
  const e1 = await Proxy.start(config("epoch1"), epochArgs(baseId, 1, [], 600));
  await e1.proc.waitFor(/hot restart: parent draining/);
  await e1.proc.stop("SIGKILL");
  await e0.proc.waitFor(/the next epoch is gone; shutting down in 1s/);
  assertEquals((await e0.proc.child.status).code, 0);
  await e0.stop();
});

/**
 * `connection_balance_config.exact_balance` over two workers: each connection goes to the
 * worker with the fewest (worker 0 on a tie), counted per worker in
 * `listener.<address>.worker_<i>.downstream_cx_active`, whichever worker accepted it; those
 * handed to the other worker still run the listener filters (tls_inspector), TLS and the HCM;
 * and the proxy holds no descriptor more once they are closed. Also the config checks.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, ServerProcess, tempFile } from "./helpers.ts";
import { adminStatsWhen, curl, httpConfig, Proxy } from "./proxy.ts";
import { testCerts } from "./tls_certs.ts";

const hcm = (body: string) => `
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${body}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200, body: { inline_string: ${body} } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;

/** One HTTP/1.1 keep-alive exchange on `conn`; the body of the answer. */
async function get(conn: Deno.Conn): Promise<string> {
  await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  let text = "";
  const buf = new Uint8Array(4096);
  while (!/\r\n\r\n(plain|tls)$/.test(text)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text.slice(text.lastIndexOf("\n") + 1);
}

/** Descriptors the process `pid` holds. */
function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

Deno.test("exact_balance: every connection goes to the worker with the fewest", async () => {
  const c = await testCerts();
  const path = tempFile(`admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: balanced
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    connection_balance_config: { exact_balance: {} }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
    filter_chains:
    - filter_chain_match: { transport_protocol: tls }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: { filename: ${c.serverChain} }
              private_key: { filename: ${c.serverKey} }
      filters:${hcm("tls")}
    - filters:${hcm("plain")}
`);
  const proc = new ServerProcess([
    "-c",
    path,
    "--concurrency",
    "2",
    "--component-log-level",
    "conn_handler:debug",
  ]);
  const conns: Deno.Conn[] = [];
  try {
    await proc.waitFor(/all 2 workers serving\n/);
    await waitFor(
      () => (proc.stderr.match(/listener 'balanced': worker \d takes part/g)?.length ?? 0) >= 2,
      () => "both workers never took part in balancing",
    );
    const port = Number(/'balanced' on port (\d+)/.exec(proc.stderr)![1]);
    const admin = Number(/admin address: .*:(\d+)\n/.exec(proc.stderr)![1]);
    const stat = `listener.127.0.0.1_${port}`;
    await adminStatsWhen(admin, (s) => s[`${stat}.downstream_cx_active`] === 0);
    const fdsBefore = fdCount(proc.child.pid);
    const handedOff = () => proc.stderr.match(/connection handed to worker/g)?.length ?? 0;
    const ca = Deno.readTextFileSync(c.caCert);
    // TLS connections until at least two were accepted by the worker that did not keep them
    // (the kernel picks the accepting worker: each connection has even odds), then plain ones.
    let tls = 0;
    for (let i = 0; i < 40 && (tls < 4 || handedOff() < 2); i++, tls++) {
      conns.push(await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca] }));
      assertEquals(await get(conns[i]), "tls");
      await expectBalanced(admin, stat, conns.length);
    }
    assert(handedOff() >= 2, "no connection was handed to the other worker");
    for (let i = 0; i < 4; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      assertEquals(await get(conns.at(-1)!), "plain");
      await expectBalanced(admin, stat, conns.length);
    }
    // Closing connections of one kind leaves the counts uneven: the next ones fill the gap.
    const total = conns.length;
    for (const conn of conns.splice(0, tls)) conn.close();
    const left = await adminStatsWhen(
      admin,
      (s) => s[`${stat}.downstream_cx_active`] === total - tls,
    );
    const low = Math.min(
      left[`${stat}.worker_0.downstream_cx_active`],
      left[`${stat}.worker_1.downstream_cx_active`],
    );
    const gap = Math.abs(
      left[`${stat}.worker_0.downstream_cx_active`] - left[`${stat}.worker_1.downstream_cx_active`],
    );
    for (let i = 0; i < gap; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      assertEquals(await get(conns.at(-1)!), "plain");
    }
    await adminStatsWhen(admin, (s) =>
      s[`${stat}.worker_0.downstream_cx_active`] === low + gap &&
      s[`${stat}.worker_1.downstream_cx_active`] === low + gap);
    for (const conn of conns.splice(0)) conn.close();
    await adminStatsWhen(admin, (s) => s[`${stat}.downstream_cx_active`] === 0);
    // Short connections one after another: the kernel reuses their descriptor numbers.
    for (let i = 0; i < 20; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      assertEquals(await get(conn), "plain");
      conn.close();
    }
    await adminStatsWhen(admin, (s) => s[`${stat}.downstream_cx_active`] === 0);
    // Nothing left behind (fewer is fine: start-up's transient descriptors may close).
    await waitFor(
      () => fdCount(proc.child.pid) <= fdsBefore,
      () => `descriptors: ${fdCount(proc.child.pid)}, ${fdsBefore} before`,
    );
  } finally {
    for (const conn of conns) conn.close();
    const status = await proc.stop();
    assertEquals(status.code, 0, proc.stderr);
  }
});

/** The two workers' active connections are `n` in all, worker 0 having the extra one. */
async function expectBalanced(admin: number, stat: string, n: number): Promise<void> {
  const s = await adminStatsWhen(admin, (s) => s[`${stat}.downstream_cx_active`] === n);
  assertEquals(
    [s[`${stat}.worker_0.downstream_cx_active`], s[`${stat}.worker_1.downstream_cx_active`]],
    [Math.ceil(n / 2), Math.floor(n / 2)],
  );
}

/** Polls `ok` (every 20 ms, at most 20 s). */
async function waitFor(ok: () => boolean, what: () => string): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`never happened: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("connection_balance_config: what is not implemented is refused", async () => {
  const config = (listener: string, other = "") =>
    tempFile(
      httpConfig({ routes: `- match: { prefix: "/" }\n  direct_response: { status: 200 }` })
        .replace("  - name: http\n", `${other}  - name: http\n${listener}`),
    );
  const exact = await runMain([
    "--mode",
    "validate",
    "-c",
    config("    connection_balance_config: { exact_balance: {} }\n"),
  ]);
  assertEquals(exact.code, 0, exact.stderr);
  const extend = await runMain([
    "--mode",
    "validate",
    "-c",
    config(`    connection_balance_config:
      extend_balance:
        name: dlb
        typed_config: { "@type": type.googleapis.com/google.protobuf.Empty }
`),
  ]);
  assertEquals(extend.code, 1);
  assertMatch(
    extend.stderr,
    /connection_balance_config\.extend_balance.*connection balancer extensions/,
  );
  // A connection use_original_dst hands to a balanced listener: Envoy rebalances it.
  const handOff = await runMain([
    "--mode",
    "validate",
    "-c",
    config(
      "    connection_balance_config: { exact_balance: {} }\n",
      `  - name: redirect
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    use_original_dst: true
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: c
`,
    ),
  ]);
  assertEquals(handOff.code, 1);
  assertMatch(
    handOff.stderr,
    /listeners\[1\]: field 'connection_balance_config' is not supported yet while another listener \(static_resources\.listeners\[0\]\) has use_original_dst/,
  );
});

Deno.test("a balanced listener added after start-up (bootstrap reload) is balanced", async () => {
  const yaml = httpConfig({
    routes: `- match: { prefix: "/" }\n  direct_response: { status: 200 }`,
  });
  const p = await Proxy.start(yaml, [
    "--concurrency",
    "2",
    "--component-log-level",
    "conn_handler:debug",
  ]);
  try {
    Deno.writeTextFileSync(
      p.configPath,
      yaml.replace(
        "  - name: http\n",
        `  - name: balanced
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    connection_balance_config: { exact_balance: {} }
    filter_chains:
    - filters:${hcm("plain")}
  - name: http
`,
      ),
    );
    const r = await curl(["-X", "POST", `http://127.0.0.1:${p.adminPort}/config_reload`]);
    assertMatch(r.out, /bootstrap reloaded: .*balanced/);
    await openBalanced(p, await p.addedPort("balanced"));
  } finally {
    await p.stop();
  }
});

Deno.test("a balanced listener from LDS (a file) is balanced", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "denvoy-balance-" });
  Deno.writeTextFileSync(
    `${dir}/lds.yaml`,
    `version_info: "1"
resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: balanced
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
  connection_balance_config: { exact_balance: {} }
  filter_chains:
  - filters:${hcm("plain").replaceAll("\n  ", "\n")}
`,
  );
  const p = await Proxy.start(
    `admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  lds_config: { path_config_source: { path: ${dir}/lds.yaml } }
`,
    ["--concurrency", "2", "--component-log-level", "conn_handler:debug"],
  );
  try {
    await openBalanced(p, await p.addedPort("balanced"));
  } finally {
    await p.stop();
  }
});

/**
 * Once both workers balance the added listener, opens six plain connections to `port`, each
 * one balanced as it comes; closes them.
 */
async function openBalanced(p: Proxy, port: number): Promise<void> {
  // Workers build a listener added after start-up in their own time; until both take part,
  // the balancer rightly picks among those that do.
  await waitFor(
    () => (p.proc.stderr.match(/listener 'balanced': worker \d takes part/g)?.length ?? 0) >= 2,
    () => "both workers never took part in balancing the added listener",
  );
  const stat = `listener.127.0.0.1_${port}`;
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      assertEquals(await get(conns[i]), "plain");
      await expectBalanced(p.adminPort, stat, conns.length);
    }
  } finally {
    for (const conn of conns) conn.close();
  }
}

/**
 * `upstream_connection_options.tcp_keepalive` end to end: the real main.ts opens its upstream
 * connection with SO_KEEPALIVE, which the kernel shows as an armed keepalive timer (timer kind
 * 2 in /proc/net/tcp) on the idle pooled socket, due within `keepalive_time` when that is set
 * (TCP_KEEPIDLE). A listener's `socket_options` (SO_KEEPALIVE, TCP_KEEPIDLE at
 * STATE_LISTENING) reach the connections it accepts the same way. (TCP_KEEPCNT and
 * TCP_KEEPINTVL are read back with getsockopt in src/upstream/conn_pool_test.ts.)
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { curl, httpConfig, Proxy, staticCluster } from "./proxy.ts";

/**
 * The /proc/net/tcp timer of the established socket from local port `port` to remote port
 * `peer` (other sockets, of other processes too, may share either port): its kind and when it
 * fires, in seconds.
 */
async function timer(port: number, peer: number): Promise<[string, number] | undefined> {
  const hex = (n: number) => `:${n.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of (await Deno.readTextFile("/proc/net/tcp")).split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when ... (when: in USER_HZ, 100 a second)
    if (f[1]?.endsWith(hex(port)) && f[2]?.endsWith(hex(peer)) && f[3] === "01") {
      const [kind, when] = f[5].split(":");
      return [kind, parseInt(when, 16) / 100];
    }
  }
  return undefined;
}

/** The /proc/net/tcp timer kind of the socket from `port` to `peer` (undefined if none). */
async function timerKind(port: number, peer: number): Promise<string | undefined> {
  return (await timer(port, peer))?.[0];
}

for (const keepalive of [true, false]) {
  Deno.test(`tcp_keepalive ${keepalive ? "set: SO_KEEPALIVE on" : "unset: no keepalive"} on the upstream socket`, async () => {
    let proxyPort = 0;
    const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (_r, info) => {
      proxyPort = (info.remoteAddr as Deno.NetAddr).port;
      return new Response("ok");
    });
    const p = await Proxy.start(httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
      clusters: staticCluster(
        "up",
        srv.addr.port,
        keepalive ? "upstream_connection_options: { tcp_keepalive: {} }" : "",
      ),
    }));
    try {
      assertEquals((await curl([`http://127.0.0.1:${p.port()}/`])).out, "ok");
      // The pooled connection stays open (keep-alive): its kernel timer says whether
      // SO_KEEPALIVE is on.
      assertEquals(await timerKind(proxyPort, srv.addr.port), keepalive ? "02" : "00");
    } finally {
      await p.stop();
      await srv.shutdown();
    }
  });
}

Deno.test("tcp_keepalive timers and listener socket_options: the kernel's keepalive timers follow them", async () => {
  let proxyPort = 0;
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (_r, info) => {
    proxyPort = (info.remoteAddr as Deno.NetAddr).port;
    return new Response("ok");
  });
  const yaml = httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster(
      "up",
      srv.addr.port,
      "upstream_connection_options:\n" +
        "  tcp_keepalive: { keepalive_time: 77, keepalive_interval: 9, keepalive_probes: 4 }",
    ),
  }).replace(
    "    filter_chains:",
    `    socket_options:
    - { description: SO_KEEPALIVE, level: 1, name: 9, int_value: 1, state: STATE_LISTENING }
    - { description: TCP_KEEPIDLE, level: 6, name: 4, int_value: 55, state: STATE_BOUND }
    filter_chains:`,
  );
  const p = await Proxy.start(yaml, ["--concurrency", "2"]);
  const client = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
  try {
    await client.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    const buf = new Uint8Array(1024);
    assertEquals(
      new TextDecoder().decode(buf.subarray(0, (await client.read(buf))!)).slice(0, 12),
      "HTTP/1.1 200",
    );
    // Upstream: SO_KEEPALIVE with TCP_KEEPIDLE 77 s (the system default is 7200 s).
    const up = await timer(proxyPort, srv.addr.port);
    assert(up && up[0] === "02" && up[1] <= 77 && up[1] > 60, `upstream timer ${up}`);
    // Downstream: the accepted socket inherits the listening socket's options (55 s).
    const down = await timer(p.port(), (client.localAddr as Deno.NetAddr).port);
    assert(down && down[0] === "02" && down[1] <= 55 && down[1] > 40, `downstream timer ${down}`);
  } finally {
    client.close();
    await p.stop();
    await srv.shutdown();
  }
});

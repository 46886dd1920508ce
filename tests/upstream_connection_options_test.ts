/**
 * `upstream_connection_options.tcp_keepalive` end to end: the real main.ts opens its upstream
 * connection with SO_KEEPALIVE, which the kernel shows as an armed keepalive timer (timer kind
 * 2 in /proc/net/tcp) on the idle pooled socket.
 */
import { assertEquals } from "../src/testing/assert.ts";
import { curl, httpConfig, Proxy, staticCluster } from "./proxy.ts";

/** The /proc/net/tcp timer kind of the socket whose local port is `port` (undefined if none). */
async function timerKind(port: number): Promise<string | undefined> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of (await Deno.readTextFile("/proc/net/tcp")).split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when ...
    if (f[1]?.endsWith(`:${hex}`)) return f[5].split(":")[0];
  }
  return undefined;
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
      assertEquals(await timerKind(proxyPort), keepalive ? "02" : "00");
    } finally {
      await p.stop();
      await srv.shutdown();
    }
  });
}

import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import {
  type HostPoolView,
  OriginalDstLoadBalancer,
  parseAddressAndPort,
} from "./original_dst_cluster.ts";

Deno.test("parseAddressAndPort takes ip:port and [v6]:port only", () => {
  assertEquals(parseAddressAndPort("127.0.0.2:8080"), { address: "127.0.0.2", port: 8080 });
  assertEquals(parseAddressAndPort("[::1]:80"), { address: "::1", port: 80 });
  for (const bad of ["127.0.0.2", "host:80", "1.2.3.4:", "1.2.3.4:x", "1.2.3.4:70000", "::1:80"]) {
    assertEquals(parseAddressAndPort(bad), undefined, bad);
  }
});

function headers(kv: Record<string, string>): HeaderMap {
  const h = new HeaderMap();
  for (const [k, v] of Object.entries(kv)) h.add(k, v);
  return h;
}

/** A pool view whose open connections the test sets; records drained hosts. */
function pools(open: Set<string>) {
  const closed: string[] = [];
  const view: HostPoolView = {
    hasConnections: (_c, a, p) => open.has(`${a}:${p}`),
    drainConnectionsTo: (_c, a, p) => void closed.push(`${a}:${p}`),
    closeConnectionsTo: () => {
      throw new Error("a cleaned-up host is drained, not closed");
    },
  };
  return { view, closed };
}

Deno.test("ORIGINAL_DST balancer: hosts from the override header, port override, invalid values counted", () => {
  let invalid = 0;
  const lb = new OriginalDstLoadBalancer(
    "od",
    { httpHeaderName: "x-envoy-original-dst-host", cleanupIntervalMs: 60_000 },
    { inc: () => invalid++ },
    () => undefined,
  );
  try {
    const h = lb.chooseHost({
      downstreamHeaders: headers({ "x-envoy-original-dst-host": "127.0.0.3:9000" }),
    })!;
    assertEquals([h.address, h.port, h.healthy], ["127.0.0.3", 9000, true]);
    // The same destination is the same host.
    assertEquals(
      lb.chooseHost({
        downstreamHeaders: headers({ "x-envoy-original-dst-host": "127.0.0.3:9000" }),
      }),
      h,
    );
    assertEquals(lb.size, 1);
    assertEquals(
      lb.chooseHost({ downstreamHeaders: headers({ "x-envoy-original-dst-host": "nope" }) }),
      undefined,
    );
    assertEquals(invalid, 1);
    // No header and no restored original destination: no host.
    assertEquals(lb.chooseHost({ downstreamHeaders: headers({}) }), undefined);
    assertEquals(lb.chooseHost(), undefined);
  } finally {
    lb.destroy();
  }
  const over = new OriginalDstLoadBalancer(
    "od",
    { httpHeaderName: "x-dst", upstreamPortOverride: 81, cleanupIntervalMs: 60_000 },
    { inc() {} },
    () => undefined,
  );
  try {
    assertEquals(
      over.chooseHost({ downstreamHeaders: headers({ "x-dst": "[::1]:80" }) })?.port,
      81,
    );
  } finally {
    over.destroy();
  }
  // Without use_http_header the header is not looked at.
  const none = new OriginalDstLoadBalancer(
    "od",
    { cleanupIntervalMs: 60_000 },
    { inc() {} },
    () => undefined,
  );
  try {
    assertEquals(
      none.chooseHost({
        downstreamHeaders: headers({ "x-envoy-original-dst-host": "127.0.0.3:9000" }),
      }),
      undefined,
    );
  } finally {
    none.destroy();
  }
});

Deno.test("ORIGINAL_DST cleanup: a host goes one round after its last pick, once its pools are closed", () => {
  const open = new Set<string>();
  const { view, closed } = pools(open);
  const lb = new OriginalDstLoadBalancer(
    "od",
    { httpHeaderName: "x-dst", cleanupIntervalMs: 60_000 },
    { inc() {} },
    () => view,
  );
  try {
    const pick = (v: string) => lb.chooseHost({ downstreamHeaders: headers({ "x-dst": v }) });
    pick("127.0.0.2:1");
    pick("127.0.0.3:1");
    lb.cleanup(); // both picked since the last round: kept
    assertEquals(lb.size, 2);
    pick("127.0.0.2:1");
    open.add("127.0.0.3:1");
    lb.cleanup(); // .2 picked again; .3 idle but still has a connection
    assertEquals(lb.size, 2);
    open.clear();
    lb.cleanup(); // .2 not picked since; .3 without connections: both go
    assertEquals(lb.size, 0);
    assertEquals(closed.sort(), ["127.0.0.2:1", "127.0.0.3:1"]);
  } finally {
    lb.destroy();
  }
});

Deno.test("ORIGINAL_DST balancer: the restored downstream local address, after the header", () => {
  let invalid = 0;
  const lb = new OriginalDstLoadBalancer(
    "od",
    { httpHeaderName: "x-envoy-original-dst-host", cleanupIntervalMs: 60_000 },
    { inc: () => invalid++ },
    () => undefined,
  );
  const noHeader = new OriginalDstLoadBalancer(
    "od2",
    { upstreamPortOverride: 81, cleanupIntervalMs: 60_000 },
    { inc: () => invalid++ },
    () => undefined,
  );
  try {
    const h = lb.chooseHost({ downstreamLocalAddress: "[2001:db8::7]:8443" })!;
    assertEquals([h.address, h.port], ["2001:db8::7", 8443]);
    // The header wins; an invalid one is counted and the local address is used.
    const byHeader = lb.chooseHost({
      downstreamHeaders: headers({ "x-envoy-original-dst-host": "10.0.0.9:90" }),
      downstreamLocalAddress: "10.0.0.1:80",
    })!;
    assertEquals([byHeader.address, byHeader.port], ["10.0.0.9", 90]);
    const fallback = lb.chooseHost({
      downstreamHeaders: headers({ "x-envoy-original-dst-host": "bad" }),
      downstreamLocalAddress: "10.0.0.1:80",
    })!;
    assertEquals([fallback.address, fallback.port, invalid], ["10.0.0.1", 80, 1]);
    // Without use_http_header the header is not read; upstream_port_override applies.
    const o = noHeader.chooseHost({
      downstreamHeaders: headers({ "x-envoy-original-dst-host": "10.0.0.9:90" }),
      downstreamLocalAddress: "10.0.0.1:80",
    })!;
    assertEquals([o.address, o.port], ["10.0.0.1", 81]);
    assertEquals(noHeader.chooseHost({}), undefined);
  } finally {
    lb.destroy();
    noHeader.destroy();
  }
});

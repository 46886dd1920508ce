/**
 * Consistent-hash load balancing end to end: main.ts in front of real upstreams, a route
 * hash_policy choosing the key, and the host each key lands on checked against the ring and
 * Maglev table built independently (the same construction Envoy uses).
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { xxHash64 } from "../src/common/hash.ts";
import type { HostDescription } from "../src/upstream/host.ts";
import { MaglevTable } from "../src/upstream/maglev_lb.ts";
import { PrioritySet } from "../src/upstream/priority_set.ts";
import { DEFAULT_RING_HASH, RingHashTable } from "../src/upstream/ring_hash_lb.ts";
import { normalizeWeights } from "../src/upstream/thread_aware_lb.ts";
import { runMain, tempFile } from "./helpers.ts";
import { httpConfig, Proxy, tcpServer, upstream } from "./proxy.ts";

function cluster(name: string, policy: string, ports: number[], extra = ""): string {
  const endpoints = ports.map((p) =>
    `      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`
  ).join("\n");
  return `- name: ${name}
  type: STATIC
  connect_timeout: 1s
  lb_policy: ${policy}
${extra.replace(/^/gm, "  ")}
  load_assignment:
    cluster_name: ${name}
    endpoints:
    - lb_endpoints:
${endpoints}
`;
}

function hosts(ports: number[]): HostDescription[] {
  return ports.map((port) => ({
    address: "127.0.0.1",
    port,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
  }));
}

function weightsOf(ports: number[]) {
  const set = new PrioritySet();
  set.updateHosts(0, hosts(ports));
  return normalizeWeights(set.hostSets[0], false, false);
}

async function withUpstreams(
  n: number,
  fn: (ports: number[]) => Promise<void>,
): Promise<void> {
  const ups = Array.from({ length: n }, () => {
    const box = { port: 0 };
    const up = upstream(() => new Response(String(box.port)));
    box.port = up.port;
    return up;
  });
  try {
    await fn(ups.map((u) => u.port));
  } finally {
    for (const u of ups) await u.close();
  }
}

async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

Deno.test("ring hash and Maglev: a header hash_policy keeps each key on Envoy's host", async () => {
  await withUpstreams(4, async (ports) => {
    const proxy = await Proxy.start(httpConfig({
      routes: `- match: { prefix: "/ring" }
  route:
    cluster: ring
    hash_policy: [{ header: { header_name: x-user } }]
- match: { prefix: "/maglev" }
  route:
    cluster: maglev
    hash_policy: [{ header: { header_name: x-user } }]`,
      clusters:
        cluster("ring", "RING_HASH", ports, "ring_hash_lb_config: { minimum_ring_size: 64 }") +
        cluster("maglev", "MAGLEV", ports, "maglev_lb_config: { table_size: 251 }"),
    }));
    try {
      const ring = new RingHashTable(
        weightsOf(ports),
        { ...DEFAULT_RING_HASH, minimumRingSize: 64 },
        false,
      );
      const maglev = new MaglevTable(weightsOf(ports), 251, false);
      const used = { ring: new Set<string>(), maglev: new Set<string>() };
      for (let i = 0; i < 24; i++) {
        const user = `user-${i}`;
        const key = xxHash64(user);
        for (const [path, table] of [["ring", ring], ["maglev", maglev]] as const) {
          const expected = String(table.chooseHost(key, 0)!.port);
          for (let k = 0; k < 2; k++) {
            const r = await get(proxy.port(), `/${path}`, { "x-user": user });
            assertEquals(r.body, expected, `${path} ${user}`);
          }
          used[path].add(expected);
        }
      }
      // The keys spread over the hosts.
      assert(used.ring.size >= 3 && used.maglev.size >= 3, JSON.stringify([...used.ring]));
    } finally {
      await proxy.stop();
    }
  });
});

Deno.test("ring hash: a cookie hash_policy with ttl generates the cookie and sticks", async () => {
  await withUpstreams(3, async (ports) => {
    const proxy = await Proxy.start(httpConfig({
      routes: `- match: { prefix: "/" }
  route:
    cluster: ring
    hash_policy:
    - cookie:
        name: route
        ttl: 60s
        path: /
        attributes: [{ name: SameSite, value: Lax }]`,
      clusters: cluster("ring", "RING_HASH", ports),
    }));
    try {
      const first = await get(proxy.port(), "/");
      assertEquals(first.status, 200);
      const setCookie = first.headers.get("set-cookie") ?? "";
      assertMatch(setCookie, /^route="[0-9a-f]{16}"; Max-Age=60; Path=\/; SameSite=Lax; HttpOnly$/);
      const value = /"([0-9a-f]{16})"/.exec(setCookie)![1];
      const ring = new RingHashTable(weightsOf(ports), DEFAULT_RING_HASH, false);
      const expected = String(ring.chooseHost(xxHash64(value), 0)!.port);
      for (let i = 0; i < 5; i++) {
        const r = await get(proxy.port(), "/", { cookie: `route="${value}"` });
        assertEquals(r.body, expected);
        assertEquals(r.headers.get("set-cookie"), null, "no new cookie once the client has one");
      }
    } finally {
      await proxy.stop();
    }
  });
});

Deno.test("without a hash_policy a ring hash cluster picks hosts at random", async () => {
  await withUpstreams(3, async (ports) => {
    const proxy = await Proxy.start(httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: ring }`,
      clusters: cluster("ring", "RING_HASH", ports),
    }));
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await get(proxy.port(), "/")).body);
      assert(seen.size >= 2, "random picks reach more than one host");
    } finally {
      await proxy.stop();
    }
  });
});

Deno.test("bad load balancer config is refused with Envoy's errors", async () => {
  const clusters = [
    cluster("m", "MAGLEV", [1], "maglev_lb_config: { table_size: 65536 }"),
    cluster(
      "r",
      "RING_HASH",
      [2],
      "ring_hash_lb_config: { minimum_ring_size: 99, maximum_ring_size: 9 }",
    ),
    cluster("w", "ROUND_ROBIN", [3]).replace(
      /- endpoint: (.*)$/m,
      "- { endpoint: $1, load_balancing_weight: 0 }",
    ),
  ].join("").replace(/^(?=.)/gm, "  ");
  const r = await runMain([
    "--mode",
    "validate",
    "-c",
    tempFile(`static_resources:\n  clusters:\n${clusters}`),
  ]);
  assertEquals(r.code, 1, r.stderr);
  assertMatch(r.stderr, /cluster 'm': The table size of maglev must be prime number/);
  assertMatch(
    r.stderr,
    /cluster 'r': ring hash: minimum_ring_size \(99\) > maximum_ring_size \(9\)/,
  );
  assertMatch(r.stderr, /load_balancing_weight: must be at least 1 \(is 0\)/);
});

Deno.test("subset load balancer: route metadata_match picks the endpoints", async () => {
  await withUpstreams(3, async (ports) => {
    const versions = ["v1", "v2", "v2"];
    const endpoints = ports.map((p, i) =>
      `      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }
        metadata: { filter_metadata: { envoy.lb: { version: ${versions[i]} } } }`
    ).join("\n");
    const proxy = await Proxy.start(httpConfig({
      routes: `- match: { prefix: "/v1" }
  route:
    cluster: versions
    metadata_match: { filter_metadata: { envoy.lb: { version: v1 } } }
- match: { prefix: "/v2" }
  route:
    metadata_match: { filter_metadata: { envoy.lb: { version: v1 } } }
    weighted_clusters:
      clusters:
      - name: versions
        weight: 1
        metadata_match: { filter_metadata: { envoy.lb: { version: v2 } } }
- match: { prefix: "/v3" }
  route:
    cluster: versions
    metadata_match: { filter_metadata: { envoy.lb: { version: v3 } } }
- match: { prefix: "/" }
  route: { cluster: versions }`,
      clusters: `- name: versions
  type: STATIC
  connect_timeout: 1s
  lb_subset_config:
    fallback_policy: DEFAULT_SUBSET
    default_subset: { version: v2 }
    subset_selectors: [{ keys: [version] }]
  load_assignment:
    cluster_name: versions
    endpoints:
    - lb_endpoints:
${endpoints}
`,
    }));
    try {
      const bodies = async (path: string) => {
        const seen = new Set<string>();
        for (let i = 0; i < 8; i++) seen.add((await get(proxy.port(), path)).body);
        return [...seen].sort();
      };
      assertEquals(await bodies("/v1"), [String(ports[0])]);
      const v2 = [String(ports[1]), String(ports[2])].sort();
      assertEquals(await bodies("/v2"), v2, "the weighted cluster's value wins");
      assertEquals(await bodies("/v3"), v2, "no v3 subset: the default subset");
      assertEquals(await bodies("/"), v2, "no criteria: the default subset");
    } finally {
      await proxy.stop();
    }
  });
});

Deno.test("tcp_proxy hash_policy source_ip keeps a client on Envoy's ring host", async () => {
  const servers = Array.from({ length: 3 }, () => {
    const box = { port: 0 };
    const srv = tcpServer(async (c) => {
      try {
        await c.write(new TextEncoder().encode(String(box.port)));
      } finally {
        c.close();
      }
    });
    box.port = srv.port;
    return srv;
  });
  const ports = servers.map((s) => s.port);
  const proxy = await Proxy.start(`static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: ring
          hash_policy: [{ source_ip: {} }]
  clusters:
${cluster("ring", "RING_HASH", ports).replace(/^(?=.)/gm, "  ")}`);
  try {
    const ring = new RingHashTable(weightsOf(ports), DEFAULT_RING_HASH, false);
    const expected = String(ring.chooseHost(xxHash64("127.0.0.1"), 0)!.port);
    for (let i = 0; i < 4; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
      const chunks: Uint8Array[] = [];
      const buf = new Uint8Array(64);
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        chunks.push(buf.slice(0, n));
      }
      conn.close();
      assertEquals(
        new TextDecoder().decode(
          chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
        ),
        expected,
      );
    }
  } finally {
    await proxy.stop();
    for (const s of servers) s.close();
  }
});

Deno.test("zone aware routing keeps traffic in node.locality's zone", async () => {
  await withUpstreams(6, async (ports) => {
    const lbEndpoints = (list: number[]) =>
      list.map((p) =>
        `        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`
      ).join("\n");
    const twoZones = (name: string, a: number[], b: number[]) =>
      `- name: ${name}
  type: STATIC
  connect_timeout: 1s
  load_assignment:
    cluster_name: ${name}
    endpoints:
    - locality: { zone: zone-a }
      lb_endpoints:
${lbEndpoints(a)}
    - locality: { zone: zone-b }
      lb_endpoints:
${lbEndpoints(b)}
`;
    const config = httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: upstream }`,
      clusters: twoZones("upstream", ports.slice(0, 3), ports.slice(3)) +
        twoZones("local", [ports[0]], [ports[3]]),
    });
    const proxy = await Proxy.start(
      `node: { locality: { zone: zone-a } }\ncluster_manager: { local_cluster_name: local }\n` +
        config,
    );
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) seen.add((await get(proxy.port(), "/")).body);
      // Half of the upstream is in zone-a, as half of the local cluster: all of it stays there.
      assertEquals([...seen].sort(), ports.slice(0, 3).map(String).sort());
    } finally {
      await proxy.stop();
    }
  });
});

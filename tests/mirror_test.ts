/**
 * Request mirroring end to end (`request_mirror_policies`): the real main.ts with a main and a
 * shadow upstream. The shadow gets the request with `-shadow` in its host, and a hanging or
 * failing shadow never touches the main request.
 */
import { assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStatsWhen as statsWhen,
  curl,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
  upstream,
} from "./proxy.ts";
import { refusedPort } from "./refused_port.ts";

interface Seen {
  path: string;
  host: string;
  body: string;
  internal: string | null;
  xff: string | null;
  expected: string | null;
}

/** A shadow upstream recording what it gets; `next()` resolves with the next request. */
function recordingShadow() {
  const seen: Seen[] = [];
  const waiters: ((s: Seen) => void)[] = [];
  const srv = upstream(async (req) => {
    const s: Seen = {
      path: new URL(req.url).pathname,
      host: req.headers.get("host") ?? "",
      body: await req.text(),
      internal: req.headers.get("x-envoy-internal"),
      xff: req.headers.get("x-forwarded-for"),
      expected: req.headers.get("x-envoy-expected-rq-timeout-ms"),
    };
    seen.push(s);
    waiters.shift()?.(s);
    return new Response("from shadow", { status: 500 });
  });
  return {
    ...srv,
    seen,
    next: () => new Promise<Seen>((r) => waiters.push(r)),
  };
}

function routes(mirrors: string): string {
  return `- match: { prefix: "/none" }
  route:
    cluster: main
    request_mirror_policies:
    - cluster: shadow
      runtime_fraction: { default_value: { numerator: 0 } }
- match: { prefix: "/hang" }
  route: { cluster: main, request_mirror_policies: [{ cluster: hang }] }
- match: { prefix: "/dead" }
  route: { cluster: main, request_mirror_policies: [{ cluster: dead }] }
- match: { prefix: "/" }
  route:
    cluster: main
    request_mirror_policies:
${mirrors.replace(/^/gm, "    ")}`;
}

Deno.test("mirror: the shadow gets a -shadow copy; hanging, failing and 0% shadows leave the main request alone", async () => {
  const main = upstream(async (req) => new Response(`main ${await req.text()}`));
  const shadow = recordingShadow();
  const hangConns: Deno.Conn[] = [];
  let hangAccepted!: () => void;
  const accepted = new Promise<void>((r) => hangAccepted = r);
  const hang = tcpServer((c) => {
    hangConns.push(c);
    hangAccepted();
  });
  const clusters = [
    staticCluster("main", main.port),
    staticCluster("shadow", shadow.port),
    staticCluster("hang", hang.port),
    staticCluster("dead", refusedPort()),
  ].join("");
  const p = await Proxy.start(httpConfig({
    routes: routes(`- cluster: shadow
- cluster_header: x-mirror-to
  disable_shadow_host_suffix_append: true`),
    clusters,
  }));
  try {
    // A body-carrying request, streamed: the shadow sees the same body and Envoy's headers.
    const got = shadow.next();
    const r = parseResponse(
      await rawExchange(
        p.port(),
        "POST /copy HTTP/1.1\r\nhost: example.com:8080\r\ntransfer-encoding: chunked\r\n" +
          "connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
      ),
    );
    assertEquals(r.status, 200);
    assertEquals(r.body, "main hello world");
    const s = await got;
    assertEquals(s.path, "/copy");
    assertEquals(s.host, "example.com-shadow:8080");
    assertEquals(s.body, "hello world");
    assertEquals(s.internal, "true");
    assertEquals(s.expected, "15000");
    // No use_remote_address: the client left no entry; the async client appends Envoy's own.
    assertMatch(s.xff ?? "", /^\d+\.\d+\.\d+\.\d+$/);

    // cluster_header with the suffix disabled: a second shadow, host unchanged.
    const first = shadow.next();
    const second = shadow.next();
    const r2 = await curl([`http://127.0.0.1:${p.port()}/two`, "-H", "x-mirror-to: shadow"]);
    assertEquals(r2.out, "main ");
    const hosts = [(await first).host, (await second).host].sort();
    assertEquals(hosts, [`127.0.0.1-shadow:${p.port()}`, `127.0.0.1:${p.port()}`]);

    // 0%: nothing mirrored. The request mirrored after it is the next one the shadow sees.
    assertEquals((await curl([`http://127.0.0.1:${p.port()}/none`])).out, "main ");
    const after = shadow.next();
    await curl([`http://127.0.0.1:${p.port()}/after`]);
    assertEquals((await after).path, "/after");
    assertEquals(shadow.seen.filter((x) => x.path === "/none").length, 0);

    // A shadow that accepts and never answers: the main answer does not wait for it.
    const h = await curl([`http://127.0.0.1:${p.port()}/hang`]);
    assertEquals(h.out, "main ");
    await accepted;
    // A shadow that refuses connections: the main request still succeeds.
    const d = await curl(["-i", `http://127.0.0.1:${p.port()}/dead`]);
    assertMatch(d.out, /^HTTP\/1.1 200/);

    // The shadows are charged to their clusters.
    const st = await statsWhen(
      p.adminPort,
      (x) =>
        (x["cluster.shadow.upstream_rq_500"] ?? 0) >= 4 &&
        (x["cluster.dead.upstream_cx_connect_fail"] ?? 0) >= 1,
    );
    assertEquals(st["cluster.shadow.upstream_rq_500"], 4);
    assertEquals(st["cluster.shadow.internal.upstream_rq_500"], 4);
    assertEquals(st["cluster.main.upstream_rq_200"], 6);
    assertEquals(st["cluster.dead.upstream_rq_503"], 1);
  } finally {
    await p.stop();
    for (const c of hangConns) c.close();
    hang.close();
    await main.close();
    await shadow.close();
  }
});

Deno.test("mirror: a body the shadow cannot keep up with abandons the shadow, not the request", async () => {
  // The main upstream counts what it gets; the shadow accepts and never reads.
  const main = upstream(async (req) => new Response(String((await req.arrayBuffer()).byteLength)));
  const conns: Deno.Conn[] = [];
  const stuck = tcpServer((c) => void conns.push(c));
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route: { cluster: main, request_mirror_policies: [{ cluster: stuck }] }`,
    clusters: staticCluster("main", main.port) + staticCluster("stuck", stuck.port),
  }));
  const body = Deno.makeTempFileSync();
  try {
    const size = 32 * 1024 * 1024;
    Deno.writeFileSync(body, new Uint8Array(size));
    const r = await curl([
      "--max-time",
      "60",
      "-H",
      "content-type: application/octet-stream",
      "--data-binary",
      `@${body}`,
      `http://127.0.0.1:${p.port()}/big`,
    ]);
    assertEquals(r.out, String(size));
    const st = await statsWhen(
      p.adminPort,
      (x) => (x["cluster.stuck.retry_or_shadow_abandoned"] ?? 0) >= 1,
    );
    assertEquals(st["cluster.stuck.retry_or_shadow_abandoned"], 1);
    assertEquals(st["cluster.main.retry_or_shadow_abandoned"], 0);
  } finally {
    await p.stop();
    for (const c of conns) c.close();
    stuck.close();
    await main.close();
    Deno.removeSync(body);
  }
});

Deno.test("mirror: a policy with both cluster and cluster_header is refused", async () => {
  const p = Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: main
    request_mirror_policies: [{ cluster: main, cluster_header: x-m }]`,
    clusters: staticCluster("main", 1),
  }));
  let err = "";
  await p.then((x) => x.stop(), (e) => err = String(e));
  assertMatch(
    err,
    /request_mirror_policies\[0\]: Only one of cluster 'main' or cluster_header 'x-m'/,
  );
});

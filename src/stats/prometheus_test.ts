import { assert, assertEquals } from "../testing/assert.ts";
import { compileStatsFilter } from "./format.ts";
import { compareStatNames, renderPrometheus, sanitizePrometheusName } from "./prometheus.ts";
import type { StoreSnapshot } from "./snapshot.ts";
import { Store } from "./store.ts";
import { TagProducer } from "./tag_extractor.ts";

const tags = new TagProducer();

function fixture(): StoreSnapshot {
  const s = new Store();
  s.counter("cluster.service_b.upstream_rq_2xx").inc(1);
  s.counter("cluster.service_a.upstream_rq_2xx").inc(3);
  s.counter("cluster.service_a.upstream_rq_5xx");
  s.counter("http.ingress_http.downstream_rq_total").inc(4);
  s.gauge("server.live", "NeverImport").set(1);
  s.gauge("cluster.service_a.upstream_cx_active", "Accumulate").set(2);
  s.textReadout("control_plane.identifier").set("cp-1");
  const h = s.histogram("cluster.service_a.upstream_rq_time", "Milliseconds", [0.5, 10, 100]);
  h.record(3);
  h.record(7);
  s.snapshot();
  h.record(120);
  return s.snapshot();
}

Deno.test("prometheus: families by tag-extracted name, tags as labels, Envoy's layout", () => {
  assertEquals(
    renderPrometheus(fixture(), tags),
    `# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="service_a"} 3
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="service_a"} 0
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="service_b"} 1

# TYPE envoy_http_downstream_rq_total counter
envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress_http"} 4

# TYPE envoy_cluster_upstream_cx_active gauge
envoy_cluster_upstream_cx_active{envoy_cluster_name="service_a"} 2

# TYPE envoy_server_live gauge
envoy_server_live{} 1

# TYPE envoy_cluster_upstream_rq_time histogram
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="service_a",le="0.5"} 0
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="service_a",le="10"} 2
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="service_a",le="100"} 2
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="service_a",le="+Inf"} 3
envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="service_a"} 130
envoy_cluster_upstream_rq_time_count{envoy_cluster_name="service_a"} 3

`,
  );
});

Deno.test("prometheus: text_readouts, usedonly and filter", () => {
  const s = fixture();
  assertEquals(
    renderPrometheus(s, tags, { textReadouts: true, filter: compileStatsFilter("identifier") }),
    `# TYPE envoy_control_plane_identifier gauge
envoy_control_plane_identifier{text_value="cp-1"} 0

`,
  );
  assertEquals(
    renderPrometheus(s, tags, { usedOnly: true, filter: compileStatsFilter("rq_[0-9]xx") }),
    `# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="service_a"} 3
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="service_b"} 1

`,
  );
  assertEquals(renderPrometheus(new Store().snapshot(), tags), "");
});

Deno.test("prometheus: bounds and sums print with 32 significant digits, as Envoy", () => {
  const s = new Store();
  s.histogram("h", "Unspecified", [0.1, 3600000]).record(0.1);
  assertEquals(
    renderPrometheus(s.snapshot(), tags),
    `# TYPE envoy_h histogram
envoy_h_bucket{le="0.10000000000000000555111512312578"} 1
envoy_h_bucket{le="3600000"} 1
envoy_h_bucket{le="+Inf"} 1
envoy_h_sum{} 0.10000000000000000555111512312578
envoy_h_count{} 1

`,
  );
});

Deno.test("prometheus: names are sanitized and label values escaped", () => {
  assertEquals(sanitizePrometheusName("envoy.cluster_name"), "envoy_cluster_name");
  assertEquals(sanitizePrometheusName("a-b/c:d"), "a_b_c_d");
  const s = new Store();
  s.counter('cluster.a"b\\c.upstream_cx_total').inc();
  s.gauge("listener.[__1]_0.downstream_cx_active", "Accumulate").inc();
  assertEquals(
    renderPrometheus(s.snapshot(), tags),
    `# TYPE envoy_cluster_upstream_cx_total counter
envoy_cluster_upstream_cx_total{envoy_cluster_name="a\\"b\\\\c"} 1

# TYPE envoy_listener_downstream_cx_active gauge
envoy_listener_downstream_cx_active{envoy_listener_address="[__1]_0"} 1

`,
  );
});

Deno.test("stat names compare token by token, as Envoy's symbol table", () => {
  assertEquals(["a-c", "a.b", "a", "a_b.c"].sort(compareStatNames), ["a", "a.b", "a-c", "a_b.c"]);
  // The sort key agrees with a token-by-token comparison on names of Envoy's characters.
  const chars = "ab.-_0";
  const names = Array.from({ length: 400 }, (_, i) => {
    let n = "";
    for (let k = 0, x = i * 7919 + 13; k < 1 + (i % 7); k++, x = (x * 31 + 7) % 104729) {
      n += chars[x % chars.length];
    }
    return n;
  });
  const byKey = [...names].sort(compareStatNames);
  const byTokens = [...names].sort(compareStatNamesByTokens);
  assertEquals(byKey, byTokens);
});

function promtoolInstalled(): boolean {
  try {
    return new Deno.Command("promtool", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * What `promtool check metrics` may say about Envoy's own output: these are style lints that
 * Envoy's stat names fail too, not format errors.
 */
const ENVOY_STYLE_LINTS = [
  / no help text$/,
  / counter metrics should have "_total" suffix$/,
  / metric names should not contain abbreviated units$/,
];

Deno.test({
  name: "prometheus output passes promtool check metrics (skipped when promtool is not installed)",
  ignore: !promtoolInstalled(),
  fn: async () => {
    const s = new Store();
    for (const name of ["service_a", "service_b"]) {
      const cluster = s.scope(`cluster.${name}`);
      cluster.counter("upstream_rq_2xx").inc();
      cluster.counter("upstream_rq_503").inc();
      cluster.counter("upstream_cx_total").inc();
      cluster.gauge("upstream_cx_active", "Accumulate").inc();
      cluster.histogram("upstream_rq_time", "Milliseconds").record(12);
      cluster.histogram("upstream_cx_length_ms", "Milliseconds").record(1500);
    }
    s.scope("listener.[__1]_10000").counter("downstream_cx_total").inc();
    s.scope("http.ingress_http").histogram("downstream_rq_time", "Milliseconds");
    s.histogram("cluster.service_a.upstream_percent", "Percent", [0.1, 0.5]).record(250000);
    s.counter('cluster.we"ird\\name.upstream_rq_total').inc();
    s.gauge("server.live", "NeverImport").set(1);
    s.textReadout("control_plane.identifier").set('id "1"\n');
    const text = renderPrometheus(s.snapshot(), tags, { textReadouts: true });

    const child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    const report = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    // 0: clean; 3: lint findings only. 1 would be a parse error.
    assert(code === 0 || code === 3, `promtool exit ${code}:\n${report}`);
    const problems = report.split("\n").filter((l) => l !== "")
      .filter((l) => !ENVOY_STYLE_LINTS.some((re) => re.test(l)));
    assertEquals(problems, []);
  },
});

Deno.test("repeated scrapes reuse unchanged families and show every change", () => {
  const s = new Store();
  const tags = new TagProducer();
  const a = s.counter("cluster.a.upstream_rq_total");
  s.counter("cluster.b.upstream_rq_total").inc(2);
  const g = s.gauge("cluster.a.upstream_cx_active", "Accumulate");
  const h = s.histogram("cluster.a.upstream_rq_time", "Milliseconds");
  const first = renderPrometheus(s.snapshot({ latch: false }), tags);
  assertEquals(renderPrometheus(s.snapshot({ latch: false }), tags), first);
  a.inc(5);
  g.set(3);
  h.record(7);
  const second = renderPrometheus(s.snapshot({ latch: false }), tags);
  assert(second.includes('envoy_cluster_upstream_rq_total{envoy_cluster_name="a"} 5\n'));
  assert(second.includes('envoy_cluster_upstream_cx_active{envoy_cluster_name="a"} 3\n'));
  assert(second.includes('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="a"} 1\n'));
  assert(second.includes('envoy_cluster_upstream_rq_total{envoy_cluster_name="b"} 2\n'));
  // A new stat changes the layout; the output is what a fresh render gives.
  s.counter("cluster.c.upstream_rq_total").inc();
  const third = renderPrometheus(s.snapshot({ latch: false }), tags);
  assertEquals(third, renderPrometheus(s.snapshot({ latch: false }), new TagProducer()));
  assert(third.includes('envoy_cluster_upstream_rq_total{envoy_cluster_name="c"} 1\n'));
});

/** Envoy's order by definition, token by token: what `statNameSortKey` must agree with. */
function compareStatNamesByTokens(a: string, b: string): number {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < x.length && i < y.length; i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

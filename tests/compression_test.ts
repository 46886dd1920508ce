/**
 * The compressor and decompressor filters end to end: curl (`--compressed`, explicit
 * `accept-encoding`, a gzip upload) through one proxy with gzip and brotli compressors and a
 * gzip decompressor, in front of a Deno upstream that serves text, echoes request bodies and
 * serves a pre-gzipped body. Checks the decoded bodies, the headers and Envoy's stats.
 */
import { Buffer } from "node:buffer";
import { brotliDecompressSync, gzipSync } from "node:zlib";
import { assert, assertEquals } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";

const TEXT = "the quick brown fox jumps over the lazy dog\n".repeat(200);

const FILTERS = `- name: envoy.filters.http.compressor
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor
    compressor_library:
      name: gz
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip
        memory_level: 3
        window_bits: 10
- name: envoy.filters.http.compressor
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor
    # The last compressor removes accept-encoding: the ones before it have read it.
    response_direction_config:
      remove_accept_encoding_header: true
    request_direction_config: {}
    compressor_library:
      name: br
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli
- name: envoy.filters.http.decompressor
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor
    decompressor_library:
      name: up
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip
        max_inflate_ratio: 1000`;

const ROUTES = `- match: { prefix: "/plain" }
  route: { cluster: up }
  typed_per_filter_config:
    envoy.filters.http.compressor:
      "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute
      disabled: true
- match: { prefix: "/" }
  route: { cluster: up }`;

Deno.test("compressor + decompressor: curl gets gzip/br bodies, uploads are inflated, stats count", async () => {
  const seen: { path: string; acceptEncoding: string | null }[] = [];
  const up = upstream(async (req) => {
    const raw = new Uint8Array(await req.arrayBuffer());
    const coding = req.headers.get("content-encoding");
    const body = (coding === "br" ? brotliDecompressSync(raw) : Buffer.from(raw)).toString();
    const path = new URL(req.url).pathname;
    seen.push({ path, acceptEncoding: req.headers.get("accept-encoding") });
    if (path === "/echo") {
      return new Response(`got ${body.length}${coding ? ` ${coding}` : ""}: ${body.slice(0, 20)}`);
    }
    if (path === "/small") {
      return new Response("tiny", { headers: { "content-type": "text/plain" } });
    }
    if (path === "/pregzipped") {
      // Already compressed upstream: the decompressor inflates it for this hop.
      return new Response(new Uint8Array(gzipSync(Buffer.from(TEXT))), {
        headers: { "content-encoding": "gzip", "content-type": "text/plain" },
      });
    }
    return new Response(TEXT, {
      headers: { "content-type": "text/plain; charset=utf-8", etag: '"v1"' },
    });
  });
  const yaml = httpConfig({
    routes: ROUTES,
    clusters: staticCluster("up", up.port),
  }).replace(
    "          http_filters:\n",
    "          http_filters:\n" + FILTERS.replace(/^/gm, "          ") + "\n",
  );
  const proxy = await Proxy.start(yaml);
  const url = `http://127.0.0.1:${proxy.port()}`;
  try {
    // curl --compressed asks for every coding it has at q=1: the first listed the chain
    // provides wins (gzip), and curl decodes it.
    const gz = await curl(["--compressed", "-D", "-", `${url}/text`]);
    assert(/content-encoding: gzip\r\n/i.test(gz.out), gz.out.slice(0, 400));
    assert(/vary: Accept-Encoding\r\n/i.test(gz.out));
    assert(/etag: W\/"v1"\r\n/i.test(gz.out), "a strong etag is weakened");
    assert(!/content-length/i.test(gz.out.split("\r\n\r\n")[0]));
    assertEquals(gz.out.split("\r\n\r\n").slice(1).join("\r\n\r\n"), TEXT);

    // The same for an HTTP/2 (h2c) client.
    const h2 = await curl(["--http2-prior-knowledge", "--compressed", "-D", "-", `${url}/text`]);
    assert(/^HTTP\/2 200/.test(h2.out) && /content-encoding: gzip\r\n/.test(h2.out), h2.out);
    assertEquals(h2.out.split("\r\n\r\n").slice(1).join("\r\n\r\n"), TEXT);

    // Only br accepted: the brotli compressor takes it; decode the raw bytes here.
    const br = await new Deno.Command("curl", {
      args: ["-s", "--max-time", "10", "-H", "accept-encoding: br", `${url}/text`],
      stdout: "piped",
    }).output();
    assertEquals(brotliDecompressSync(br.stdout).toString(), TEXT);

    // No accept-encoding: identity; a body under min_content_length; a route that disables it.
    const plain = await curl(["-D", "-", `${url}/text`]);
    assert(!/content-encoding/i.test(plain.out));
    assert(/vary: Accept-Encoding\r\n/i.test(plain.out), "compressible, so Vary even so");
    const small = await curl(["-D", "-", "-H", "accept-encoding: gzip", `${url}/small`]);
    assert(!/content-encoding/i.test(small.out) && small.out.endsWith("tiny"));
    const off = await curl(["-D", "-", "-H", "accept-encoding: gzip", `${url}/plain`]);
    assert(!/content-encoding/i.test(off.out) && off.out.endsWith(TEXT));

    // remove_accept_encoding_header drops the client's accept-encoding (not where the route
    // disables the compressor); the decompressor advertises the gzip it can undo.
    assert(seen.every((s) => s.acceptEncoding === "gzip"), JSON.stringify(seen));

    // A gzip upload is inflated before the upstream.
    const file = await Deno.makeTempFile();
    await Deno.writeFile(file, gzipSync(Buffer.from(TEXT)));
    const upload = await curl([
      "--data-binary",
      `@${file}`,
      "-H",
      "content-encoding: gzip",
      "-H",
      "content-type: text/plain",
      `${url}/echo`,
    ]);
    await Deno.remove(file);
    assertEquals(upload.out, `got ${TEXT.length}: ${TEXT.slice(0, 20)}`);

    // A plain upload is compressed (request_direction_config) with brotli for the upstream.
    const plainUpload = await curl([
      "--data-binary",
      TEXT,
      "-H",
      "content-type: text/plain",
      `${url}/echo`,
    ]);
    assertEquals(plainUpload.out, `got ${TEXT.length} br: ${TEXT.slice(0, 20)}`);

    // A gzip response from upstream is inflated by the decompressor (a client without
    // accept-encoding gets it plain).
    const pre = await curl(["-D", "-", `${url}/pregzipped`]);
    assert(!/content-encoding/i.test(pre.out.split("\r\n\r\n")[0]), pre.out.slice(0, 300));
    assert(pre.out.endsWith(TEXT));

    const p = "http.test.compressor";
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => (s["http.test.decompressor.up.gzip.response.decompressed"] ?? 0) >= 1,
    );
    assertEquals(s[`${p}.gz.gzip.compressed`], 2);
    assertEquals(s[`${p}.gz.gzip.header_compressor_used`], 2);
    assertEquals(s[`${p}.gz.gzip.header_gzip`], 2);
    assertEquals(s[`${p}.br.brotli.compressed`], 1);
    assertEquals(s[`${p}.br.brotli.header_compressor_overshadowed`], 2);
    assertEquals(s[`${p}.gz.gzip.no_accept_header`] >= 1, true);
    assertEquals(s[`${p}.gz.gzip.content_length_too_small`], 1);
    assertEquals(s[`${p}.gz.gzip.total_uncompressed_bytes`], 2 * TEXT.length);
    assert(s[`${p}.gz.gzip.total_compressed_bytes`] < TEXT.length / 5);
    assertEquals(s["http.test.decompressor.up.gzip.request.decompressed"], 1);
    assertEquals(s[`${p}.br.brotli.request.compressed`], 1);
    assertEquals(s[`${p}.br.brotli.request.total_uncompressed_bytes`], TEXT.length);
    assertEquals(s["http.test.decompressor.up.gzip.request.total_uncompressed_bytes"], TEXT.length);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

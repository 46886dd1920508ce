import { Buffer } from "node:buffer";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { CompressorPerRouteSchema } from "../../../../../proto/gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.ts";
import type { MatchedRoute } from "../../../../router/route_table.ts";
import { assertEquals } from "../../../../testing/assert.ts";
import type { FilterManager } from "../../../../http/filter_manager.ts";
import { recordingChain } from "../../../../testing/http_filter.ts";
import type { HttpFilterFactoryCb } from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { Store } from "../../../../stats/store.ts";
import { gzipCompressorLibrary } from "../../../compression/gzip/compressor/config.ts";
import { brotliCompressorLibrary } from "../../../compression/brotli/compressor/config.ts";
import type { CompressorLibrary } from "../../../compression/compression.ts";
import { type CompressorFilterConfig, compressorFilterFactory } from "./compressor_filter.ts";
import { DEFAULT_CONTENT_TYPES } from "./config.ts";

const BODY = new TextEncoder().encode("some text that compresses well. ".repeat(100));

function config(
  library: CompressorLibrary,
  opts: Partial<CompressorFilterConfig> & { etag?: boolean; removeAccept?: boolean } = {},
): CompressorFilterConfig {
  return {
    library,
    chooseFirst: false,
    response: {
      enabled: () => true,
      minContentLength: 30,
      contentTypes: new Set(DEFAULT_CONTENT_TYPES),
      disableOnEtagHeader: opts.etag ?? false,
      removeAcceptEncodingHeader: opts.removeAccept ?? false,
    },
    ...opts,
  };
}

/** A stream through `filters` (see recordingChain), its matched route holding `perRoute`. */
function chain(filters: HttpFilterFactoryCb[], perRoute?: Any) {
  // A matched route whose typed_per_filter_config holds `perRoute` under the filter's name.
  const route = {
    route: { typedPerFilterConfig: new Map(perRoute ? [["c", perRoute]] : []) },
  } as unknown as MatchedRoute;
  const s = recordingChain(filters, route);
  const body = () => new Uint8Array(Buffer.concat(s.out.data));
  return { ...s, body };
}

function request(fm: FilterManager, headers: Record<string, string>) {
  fm.decodeHeaders(new HeaderMap(Object.entries(headers).flat()), true);
}

function respond(fm: FilterManager, headers: Record<string, string>, body = BODY) {
  fm.encodeHeaders(new HeaderMap([":status", "200", ...Object.entries(headers).flat()]), false);
  const half = body.length >> 1;
  fm.encodeData(body.subarray(0, half), false);
  fm.encodeData(body.subarray(half), true);
}

Deno.test("compressor: gzip response for a client that accepts it, in chunks", () => {
  const store = new Store();
  const f = compressorFilterFactory(
    config(gzipCompressorLibrary(undefined)),
    "c",
    store.scope("s"),
  );
  const { fm, out, body } = chain([f]);
  request(fm, { "accept-encoding": "br;q=0.5, gzip" });
  respond(fm, {
    "content-type": "text/html; charset=utf-8",
    "content-length": `${BODY.length}`,
    etag: '"abc"',
  });
  assertEquals(out.headers!.get("content-encoding"), "gzip");
  assertEquals(out.headers!.get("content-length"), undefined);
  assertEquals(out.headers!.get("vary"), "Accept-Encoding");
  assertEquals(out.headers!.get("etag"), 'W/"abc"');
  // Each chunk was flushed on its own: two chunks out.
  assertEquals(out.data.length, 2);
  assertEquals(new Uint8Array(gunzipSync(body())), BODY);
  const c = (n: string) => store.counter(`s.${n}`).value;
  assertEquals([c("compressed"), c("header_compressor_used"), c("header_gzip")], [1, 1, 1]);
  assertEquals(c("total_uncompressed_bytes"), BODY.length);
  assertEquals(c("total_compressed_bytes"), body().length);
});

Deno.test("compressor: skip rules (no accept, small, type, no-transform, encoded, etag, headers-only)", () => {
  const cases: [Record<string, string>, Record<string, string>, string, boolean][] = [
    [{}, { "content-type": "text/plain" }, "no_accept_header", true],
    [{ "accept-encoding": "gzip" }, { "content-length": "10" }, "content_length_too_small", false],
    [{ "accept-encoding": "gzip" }, { "content-type": "image/png" }, "not_compressed", false],
    [
      { "accept-encoding": "gzip" },
      { "cache-control": "public, no-transform" },
      "not_compressed",
      false,
    ],
    [{ "accept-encoding": "gzip" }, { "content-encoding": "br" }, "not_compressed", false],
    [{ "accept-encoding": "gzip" }, { etag: '"x"' }, "not_compressed_etag", false],
    [{ "accept-encoding": "identity" }, {}, "header_identity", true],
    [{ "accept-encoding": "deflate" }, {}, "header_not_valid", true],
  ];
  for (const [req, res, stat, vary] of cases) {
    const store = new Store();
    const cfg = config(gzipCompressorLibrary(undefined), { etag: true });
    const { fm, out, body } = chain([compressorFilterFactory(cfg, "c", store.scope("s"))]);
    request(fm, req);
    respond(fm, res);
    const what = JSON.stringify([req, res]);
    assertEquals(out.headers!.get("content-encoding"), res["content-encoding"], what);
    assertEquals(body(), BODY, what);
    assertEquals(store.counter(`s.${stat}`).value, 1, `${what} ${stat}`);
    assertEquals(store.counter("s.not_compressed").value, 1, what);
    // Vary only when the response could have been compressed.
    assertEquals(out.headers!.get("vary") === "Accept-Encoding", vary, what);
  }
  // A headers-only response is left alone.
  const store = new Store();
  const f = compressorFilterFactory(
    config(gzipCompressorLibrary(undefined)),
    "c",
    store.scope("s"),
  );
  const { fm, out } = chain([f]);
  request(fm, { "accept-encoding": "gzip" });
  fm.encodeHeaders(new HeaderMap([":status", "204"]), true);
  assertEquals(out.headers!.get("content-encoding"), undefined);
  assertEquals(store.counter("s.not_compressed").value, 1);
});

Deno.test("compressor: two compressors share one decision; the other counts overshadowed", () => {
  const store = new Store();
  const gz = compressorFilterFactory(
    config(gzipCompressorLibrary(undefined)),
    "g",
    store.scope("g"),
  );
  const br = compressorFilterFactory(
    config(brotliCompressorLibrary(undefined)),
    "b",
    store.scope("b"),
  );
  const { fm, out, body } = chain([gz, br]);
  request(fm, { "accept-encoding": "gzip;q=0.8, br" });
  respond(fm, { "content-type": "application/json" });
  assertEquals(out.headers!.get("content-encoding"), "br");
  assertEquals(new Uint8Array(brotliDecompressSync(body())), BODY);
  assertEquals(store.counter("b.header_compressor_used").value, 1);
  assertEquals(store.counter("g.header_compressor_overshadowed").value, 1);
  assertEquals(store.counter("g.not_compressed").value, 1);
});

Deno.test("compressor: a route's CompressorPerRoute disables it; remove_accept_encoding_header", () => {
  const store = new Store();
  const cfg = config(gzipCompressorLibrary(undefined), { removeAccept: true });
  const f = compressorFilterFactory(cfg, "c", store.scope("s"));
  const disabled = anyPack(
    CompressorPerRouteSchema,
    create(CompressorPerRouteSchema, { override: { case: "disabled", value: true } }),
  );
  const off = chain([f], disabled);
  request(off.fm, { "accept-encoding": "gzip" });
  // Disabled: the header is left for upstream, and nothing is compressed.
  assertEquals(off.up.headers!.get("accept-encoding"), "gzip");
  respond(off.fm, { "content-type": "text/plain" });
  assertEquals(off.out.headers!.get("content-encoding"), undefined);

  const on = chain([f]);
  request(on.fm, { "accept-encoding": "gzip" });
  assertEquals(on.up.headers!.get("accept-encoding"), undefined);
  respond(on.fm, { "content-type": "text/plain" });
  assertEquals(on.out.headers!.get("content-encoding"), "gzip");
});

Deno.test("compressor: request bodies are compressed when request_direction_config enables it", () => {
  const store = new Store();
  const cfg = config(gzipCompressorLibrary(undefined), {
    request: { enabled: () => true, minContentLength: 30, contentTypes: new Set(["text/plain"]) },
  });
  const { fm, up } = chain([compressorFilterFactory(cfg, "c", store.scope("s"))]);
  fm.decodeHeaders(
    new HeaderMap([":method", "POST", "content-type", "text/plain", "content-length", "3200"]),
    false,
  );
  fm.decodeData(BODY, true);
  assertEquals(up.headers!.get("content-encoding"), "gzip");
  assertEquals(up.headers!.get("content-length"), undefined);
  assertEquals(new Uint8Array(gunzipSync(Buffer.concat(up.data))), BODY);
  assertEquals(store.counter("s.request.compressed").value, 1);
  assertEquals(store.counter("s.request.total_uncompressed_bytes").value, BODY.length);
});

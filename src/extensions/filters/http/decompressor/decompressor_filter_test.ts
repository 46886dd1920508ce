import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import { assertEquals } from "../../../../testing/assert.ts";
import { recordingChain } from "../../../../testing/http_filter.ts";
import type { HttpFilterFactoryCb } from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { Store } from "../../../../stats/store.ts";
import { gzipDecompressorLibrary } from "../../../compression/gzip/decompressor/config.ts";
import { type DecompressorFilterConfig, decompressorFilterFactory } from "./decompressor_filter.ts";

const BODY = new TextEncoder().encode("a body the client compressed. ".repeat(50));
const GZ = new Uint8Array(gzipSync(BODY));

function config(responseEnabled = true): DecompressorFilterConfig {
  return {
    library: gzipDecompressorLibrary({ maxInflateRatio: 100 } as never),
    name: "up",
    request: { enabled: () => true, ignoreNoTransformHeader: false, advertiseAcceptEncoding: true },
    response: { enabled: () => responseEnabled, ignoreNoTransformHeader: true },
  };
}

/** A stream through the filter (see recordingChain). */
const chain = (f: HttpFilterFactoryCb) => recordingChain([f]);

const joined = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

Deno.test("decompressor: a gzip request body is inflated; gzip is advertised upstream", () => {
  const store = new Store();
  const { fm, up } = chain(decompressorFilterFactory(config(), store.scope("d")));
  fm.decodeHeaders(
    new HeaderMap([
      ":method",
      "POST",
      "content-encoding",
      "gzip",
      "content-length",
      `${GZ.length}`,
      "accept-encoding",
      "br, gzip;q=0.1",
    ]),
    false,
  );
  for (let i = 0; i < GZ.length; i += 20) {
    fm.decodeData(GZ.subarray(i, i + 20), i + 20 >= GZ.length);
  }
  assertEquals(up.headers!.get("content-encoding"), undefined);
  assertEquals(up.headers!.get("content-length"), undefined);
  // gzip goes last at full weight.
  assertEquals(up.headers!.get("accept-encoding"), "br,gzip");
  assertEquals(joined(up.data), BODY);
  assertEquals(store.counter("d.request.decompressed").value, 1);
  assertEquals(store.counter("d.request.total_compressed_bytes").value, GZ.length);
  assertEquals(store.counter("d.request.total_uncompressed_bytes").value, BODY.length);
});

Deno.test("decompressor: only the first coding is undone; others and no-transform pass", () => {
  const store = new Store();
  const f = decompressorFilterFactory(config(), store.scope("d"));
  const layered = chain(f);
  layered.fm.decodeHeaders(
    new HeaderMap([":method", "POST", "content-encoding", "gzip, br"]),
    false,
  );
  layered.fm.decodeData(GZ, true);
  assertEquals(layered.up.headers!.get("content-encoding"), "br");
  assertEquals(joined(layered.up.data), BODY);

  const other = chain(f);
  other.fm.decodeHeaders(new HeaderMap([":method", "POST", "content-encoding", "br, gzip"]), false);
  other.fm.decodeData(GZ, true);
  assertEquals(joined(other.up.data), GZ);

  const noTransform = chain(f);
  noTransform.fm.decodeHeaders(
    new HeaderMap([":method", "POST", "content-encoding", "gzip", "cache-control", "no-transform"]),
    false,
  );
  noTransform.fm.decodeData(GZ, true);
  assertEquals(joined(noTransform.up.data), GZ);
  assertEquals(store.counter("d.request.not_decompressed").value, 2);
});

Deno.test("decompressor: responses are inflated; a bomb is cut off with zlib_data_error", () => {
  const store = new Store();
  const f = decompressorFilterFactory(config(), store.scope("d"));
  const ok = chain(f);
  ok.fm.decodeHeaders(new HeaderMap([":method", "GET"]), true);
  ok.fm.encodeHeaders(
    new HeaderMap([":status", "200", "content-encoding", "gzip", "cache-control", "no-transform"]),
    false,
  );
  ok.fm.encodeData(GZ, true);
  assertEquals(ok.out.headers!.get("content-encoding"), undefined);
  assertEquals(joined(ok.out.data), BODY);

  const bomb = chain(f);
  bomb.fm.decodeHeaders(new HeaderMap([":method", "GET"]), true);
  bomb.fm.encodeHeaders(new HeaderMap([":status", "200", "content-encoding", "gzip"]), false);
  bomb.fm.encodeData(new Uint8Array(gzipSync(new Uint8Array(4 << 20))), true);
  assertEquals(joined(bomb.out.data).length, 0);
  assertEquals(store.counter("d.decompressor_library.zlib_data_error").value, 1);
  assertEquals(store.counter("d.response.decompressed").value, 2);
});

Deno.test("decompressor: response decompression off: nothing advertised, bodies pass", () => {
  const store = new Store();
  const { fm, up, out } = chain(decompressorFilterFactory(config(false), store.scope("d")));
  fm.decodeHeaders(new HeaderMap([":method", "POST"]), false);
  fm.decodeData(BODY, true);
  assertEquals(up.headers!.get("accept-encoding"), undefined);
  fm.encodeHeaders(new HeaderMap([":status", "200", "content-encoding", "gzip"]), false);
  fm.encodeData(GZ, true);
  assertEquals(out.headers!.get("content-encoding"), "gzip");
  assertEquals(joined(out.data), GZ);
  assertEquals(store.counter("d.response.not_decompressed").value, 1);
});

Deno.test("decompressor: headers-only requests advertise too; trailers carry the byte counts", () => {
  const store = new Store();
  const f = decompressorFilterFactory(config(), store.scope("d"));
  const get = chain(f);
  get.fm.decodeHeaders(new HeaderMap([":method", "GET"]), true);
  assertEquals(get.up.headers!.get("accept-encoding"), "gzip");

  const { fm } = chain(f);
  fm.decodeHeaders(new HeaderMap([":method", "POST", "content-encoding", "gzip"]), false);
  fm.decodeData(GZ, false);
  const trailers = new HeaderMap(["x-checksum", "1"]);
  fm.decodeTrailers(trailers);
  assertEquals(trailers.get("x-envoy-decompressor-up-compressed-bytes"), `${GZ.length}`);
  assertEquals(trailers.get("x-envoy-decompressor-up-uncompressed-bytes"), `${BODY.length}`);
});

import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "./header_map.ts";
import { grpcTimeoutMs, streamDurationMs, toGrpcTimeout } from "./stream_duration.ts";

Deno.test("grpcTimeoutMs reads every unit, rounds sub-millisecond ones up, refuses bad values", () => {
  assertEquals(grpcTimeoutMs("2H"), 7_200_000);
  assertEquals(grpcTimeoutMs("3M"), 180_000);
  assertEquals(grpcTimeoutMs("10S"), 10_000);
  assertEquals(grpcTimeoutMs("250m"), 250);
  assertEquals(grpcTimeoutMs("1500u"), 2);
  assertEquals(grpcTimeoutMs("1n"), 1);
  assertEquals(grpcTimeoutMs("0m"), 0);
  for (const bad of [undefined, "", "S", "10", "10s", "123456789m", "-1m", "1.5S", " 1S"]) {
    assertEquals(grpcTimeoutMs(bad), undefined, String(bad));
  }
});

Deno.test("toGrpcTimeout picks the smallest unit that fits 8 digits", () => {
  assertEquals(toGrpcTimeout(250), "250m");
  assertEquals(toGrpcTimeout(99_999_999), "99999999m");
  assertEquals(toGrpcTimeout(100_000_000), "100000S");
  assertEquals(toGrpcTimeout(99_999_999_999), "99999999S");
  assertEquals(toGrpcTimeout(999_999_999_999), "16666666M");
  assertEquals(toGrpcTimeout(Number.MAX_SAFE_INTEGER), "99999999H");
});

const grpc = (timeout?: string) =>
  HeaderMap.from([
    ["content-type", "application/grpc"],
    ...(timeout ? [["grpc-timeout", timeout] as [string, string]] : []),
  ]);

Deno.test("streamDurationMs: the route's limit over the HCM's; 0 disables; no route setting keeps the HCM's", () => {
  const plain = new HeaderMap();
  assertEquals(streamDurationMs(undefined, 0, plain), undefined);
  assertEquals(streamDurationMs(undefined, 500, plain), 500);
  assertEquals(streamDurationMs({ maxStreamDurationMs: 200 }, 500, plain), 200);
  assertEquals(streamDurationMs({ maxStreamDurationMs: 0 }, 500, plain), undefined);
  // grpc-timeout counts only where grpc_timeout_header_max is set.
  assertEquals(streamDurationMs({ maxStreamDurationMs: 200 }, 0, grpc("10S")), 200);
});

Deno.test("streamDurationMs: grpc-timeout capped by grpc_timeout_header_max (0: no cap), less the offset", () => {
  assertEquals(streamDurationMs({ grpcTimeoutHeaderMaxMs: 300 }, 0, grpc("10S")), 300);
  assertEquals(streamDurationMs({ grpcTimeoutHeaderMaxMs: 0 }, 0, grpc("10S")), 10_000);
  assertEquals(
    streamDurationMs(
      { grpcTimeoutHeaderMaxMs: 300, grpcTimeoutHeaderOffsetMs: 50 },
      0,
      grpc("10S"),
    ),
    250,
  );
  // An offset as large as the timeout leaves 0 (expires at once), not a negative time.
  assertEquals(
    streamDurationMs({ grpcTimeoutHeaderMaxMs: 0, grpcTimeoutHeaderOffsetMs: 50 }, 0, grpc("20m")),
    0,
  );
  // Without the header the stream duration applies.
  assertEquals(
    streamDurationMs({ grpcTimeoutHeaderMaxMs: 300, maxStreamDurationMs: 900 }, 0, grpc()),
    900,
  );
});

Deno.test("streamDurationMs rewrites grpc-timeout for gRPC requests on routes with max_stream_duration", () => {
  const h = grpc("10S");
  streamDurationMs({ grpcTimeoutHeaderMaxMs: 300, grpcTimeoutHeaderOffsetMs: 50 }, 0, h);
  assertEquals(h.get("grpc-timeout"), "250m");
  // Disabled by the route while the HCM set a limit: the header goes.
  const off = grpc("10S");
  assertEquals(streamDurationMs({ maxStreamDurationMs: 0 }, 500, off), undefined);
  assertEquals(off.has("grpc-timeout"), false);
  // Routes without max_stream_duration leave it alone.
  const untouched = grpc("10S");
  streamDurationMs(undefined, 500, untouched);
  assertEquals(untouched.get("grpc-timeout"), "10S");
});

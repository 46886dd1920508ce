import { assertEquals } from "../testing/assert.ts";
import {
  grpcLocalReplyHeaders,
  httpToGrpcStatus,
  percentEncodeGrpcMessage,
} from "./grpc_local_reply.ts";

Deno.test("httpToGrpcStatus: Envoy's table (UH/UF/UO 503 and UT 504 are Unavailable)", () => {
  const table: [number, number][] = [
    [400, 13],
    [401, 16],
    [403, 7],
    [404, 12],
    [429, 14],
    [502, 14],
    [503, 14],
    [504, 14],
    [500, 2],
    [408, 2],
  ];
  for (const [http, grpc] of table) assertEquals(httpToGrpcStatus(http), grpc, String(http));
});

Deno.test("percentEncodeGrpcMessage: printable ASCII but % stays, the rest is %XX of UTF-8", () => {
  assertEquals(percentEncodeGrpcMessage("no healthy upstream"), "no healthy upstream");
  assertEquals(percentEncodeGrpcMessage("50% done\n"), "50%25 done%0A");
  assertEquals(percentEncodeGrpcMessage("é"), "%C3%A9");
});

Deno.test("grpcLocalReplyHeaders: trailers-only, grpc-status override, no message for HEAD", () => {
  const h = grpcLocalReplyHeaders(503, "no healthy upstream", undefined, false);
  assertEquals(h.raw(), [
    ":status",
    "200",
    "content-type",
    "application/grpc",
    "grpc-status",
    "14",
    "grpc-message",
    "no healthy upstream",
  ]);
  assertEquals(grpcLocalReplyHeaders(403, "{}\n", 16, false).get("grpc-message"), "{}");
  assertEquals(grpcLocalReplyHeaders(403, "denied", 16, false).get("grpc-status"), "16");
  assertEquals(grpcLocalReplyHeaders(404, "x", undefined, true).has("grpc-message"), false);
});

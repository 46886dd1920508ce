import { assertEquals } from "../testing/assert.ts";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import {
  type GrpcCheck,
  GrpcHealthCheckClient,
  healthCheckRequest,
  parseGrpcHealthCheck,
  servingStatus,
} from "./grpc_health_check.ts";

Deno.test("healthCheckRequest: the length-prefixed HealthCheckRequest", () => {
  assertEquals([...healthCheckRequest("")], [0, 0, 0, 0, 0]);
  assertEquals([...healthCheckRequest("ab")], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
  const long = healthCheckRequest("x".repeat(200));
  assertEquals([...long.subarray(0, 8)], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
});

Deno.test("servingStatus: HealthCheckResponse.status, or undefined for a bad body", () => {
  assertEquals(servingStatus(new Uint8Array([0, 0, 0, 0, 2, 0x08, 1])), 1);
  assertEquals(servingStatus(new Uint8Array([0, 0, 0, 0, 2, 0x08, 2])), 2);
  assertEquals(servingStatus(new Uint8Array([0, 0, 0, 0, 0])), 0);
  // Unknown fields are skipped.
  assertEquals(servingStatus(new Uint8Array([0, 0, 0, 0, 5, 0x12, 1, 0x41, 0x08, 1])), 1);
  assertEquals(servingStatus(new Uint8Array([1, 0, 0, 0, 2, 0x08, 1])), undefined);
  assertEquals(servingStatus(new Uint8Array([0, 0, 0, 0, 3, 0x08, 1])), undefined);
});

Deno.test("parseGrpcHealthCheck: pseudo-headers and formatters in initial_metadata are refused", () => {
  const problems: string[] = [];
  parseGrpcHealthCheck(
    {
      serviceName: "",
      authority: "",
      initialMetadata: [
        { header: { key: ":authority", value: "x" } },
        { header: { key: "x-a", value: "%START_TIME%" } },
      ],
    } as unknown as Parameters<typeof parseGrpcHealthCheck>[0],
    "hc",
    problems,
  );
  assertEquals(problems.length, 2);
});

const OPTS = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "GrpcHealthCheckClient: SERVING, NOT_SERVING, grpc errors and resets over one connection",
  OPTS,
  async () => {
    const seen: http2.IncomingHttpHeaders[] = [];
    const answers: ((s: http2.ServerHttp2Stream) => void)[] = [];
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      seen.push(headers);
      stream.on("data", () => {});
      stream.on("end", () => answers.shift()!(stream));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as AddressInfo).port;
    const grpcOk = (status: number) => (s: http2.ServerHttp2Stream) => {
      s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
      s.end(new Uint8Array([0, 0, 0, 0, 2, 0x08, status]));
    };
    answers.push(
      grpcOk(1),
      grpcOk(2),
      (s) =>
        s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, {
          endStream: true,
        }),
      (s) => s.close(http2.constants.NGHTTP2_CANCEL),
      grpcOk(1),
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const client = new GrpcHealthCheckClient(conn);
    const check: GrpcCheck = {
      type: "grpc",
      serviceName: "svc",
      authority: "",
      initialMetadata: [["x-md", "1"]],
    };
    try {
      assertEquals(await client.check(check, "auth.test"), "healthy");
      assertEquals(seen[0][":path"], "/grpc.health.v1.Health/Check");
      assertEquals(seen[0][":authority"], "auth.test");
      assertEquals(seen[0]["content-type"], "application/grpc");
      assertEquals(seen[0]["te"], "trailers");
      assertEquals(seen[0]["x-md"], "1");
      assertEquals(await client.check(check, "a"), "active_failure");
      assertEquals(await client.check(check, "a"), "active_failure");
      assertEquals(await client.check(check, "a"), "network_failure");
      assertEquals(client.failed, false);
      assertEquals(await client.check(check, "a"), "healthy");
    } finally {
      conn.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  },
);

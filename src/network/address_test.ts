import { create } from "@bufbuild/protobuf";
import type { Address } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";
import { messageSchema } from "../config/api.ts";
import { assertEquals } from "../testing/assert.ts";
import { formatAddress } from "./address.ts";

const addr = (init: Record<string, unknown>) =>
  // deno-lint-ignore no-explicit-any
  create(messageSchema<Address>("envoy.config.core.v3.Address"), init as any);

Deno.test("addresses print as Envoy prints them", () => {
  const sock = (address: string, port: number) =>
    addr({
      address: {
        case: "socketAddress",
        value: { address, portSpecifier: { case: "portValue", value: port } },
      },
    });
  assertEquals(formatAddress(sock("0.0.0.0", 10000)), "0.0.0.0:10000");
  assertEquals(formatAddress(sock("::1", 80)), "[::1]:80");
  assertEquals(
    formatAddress(addr({ address: { case: "pipe", value: { path: "/tmp/s" } } })),
    "/tmp/s",
  );
  assertEquals(formatAddress(undefined), "(no address)");
});

/**
 * The UDP address of a statsd sink. Envoy resolves it with its IP resolver, without DNS: the
 * address must be an IP literal with a numeric port.
 */
import { isIP } from "../../../../common/ip.ts";
import type { Address } from "../../../../../proto/gen/envoy/config/core/v3/address_pb.ts";

/** A statsd server's IP and port. */
export interface UdpTarget {
  ip: string;
  port: number;
}

/** Why `address` cannot be a statsd UDP target; `unsupported` marks what denvoy lacks. */
export interface AddressProblem {
  message: string;
  field: string;
  unsupported?: boolean;
}

/** The target of `address`, or the problem with it (Envoy's messages where it has them). */
export function udpTarget(address: Address | undefined): UdpTarget | AddressProblem {
  const a = address?.address;
  if (a?.case === "socketAddress") {
    const sa = a.value;
    if (isIP(sa.address) === 0) {
      return { message: `malformed IP address: ${sa.address}`, field: "socket_address.address" };
    }
    if (sa.portSpecifier.case !== "portValue") {
      return {
        message: "IP resolver can't handle port specifier type named_port",
        field: "socket_address.named_port",
      };
    }
    return { ip: sa.address, port: sa.portSpecifier.value };
  }
  if (a?.case === "pipe") {
    return { message: "a pipe (Unix datagram) address", field: "pipe", unsupported: true };
  }
  return { message: "a socket_address is required", field: "" };
}

/** Whether `t` is a target rather than a problem. */
export function isTarget(t: UdpTarget | AddressProblem): t is UdpTarget {
  return "ip" in t;
}

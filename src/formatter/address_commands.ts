/**
 * Address operators: `%<SIDE>_ADDRESS%`, `%<SIDE>_ADDRESS_WITHOUT_PORT(MASK_PREFIX_LEN)%` and
 * `%<SIDE>_PORT%` for the downstream and upstream connections, the chosen upstream host
 * (`%UPSTREAM_HOST%`, `%UPSTREAM_HOST_NAME%`) and internal-listener endpoint ids. Ports are
 * numbers in typed JSON; everything else is a string.
 */
import type { StreamInfo } from "../stream_info/stream_info.ts";
import { addressPort, addressWithoutPort, maskedAddress } from "./address.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import { type FormatContext, numberProvider, stringProvider } from "./provider.ts";

type AddressOf = (si: StreamInfo) => string | undefined;

function withoutPort(
  name: string,
  address: (ctx: FormatContext) => string | undefined,
): CommandSpec {
  return {
    params: "optional",
    create(arg) {
      if (arg === "") {
        return stringProvider((ctx) => {
          const a = address(ctx);
          return a === undefined ? undefined : addressWithoutPort(a);
        });
      }
      if (!/^\d{1,3}$/.test(arg) || Number(arg) > 128) {
        throw new Error(
          `${name}: MASK_PREFIX_LEN must be a number from 0 to 128 (32 for IPv4), got '${arg}'`,
        );
      }
      const prefix = Number(arg);
      return stringProvider((ctx) => {
        const a = address(ctx);
        return a === undefined ? undefined : maskedAddress(a, prefix);
      });
    },
  };
}

/** The three views of an address: as is, without port (optionally masked), the port alone. */
function addressOperators(prefix: string, get: AddressOf): CommandTable {
  const address = (ctx: FormatContext) => get(ctx.streamInfo) || undefined;
  const name = `${prefix}_ADDRESS_WITHOUT_PORT`;
  return {
    [`${prefix}_ADDRESS`]: { params: "none", create: () => stringProvider(address) },
    [name]: withoutPort(name, address),
    [`${prefix}_PORT`]: {
      params: "none",
      create: () =>
        numberProvider((ctx) => {
          const a = address(ctx);
          return a === undefined ? undefined : addressPort(a);
        }),
    },
  };
}

function plainString(get: (si: StreamInfo) => string | undefined): CommandSpec {
  return { params: "none", create: () => stringProvider((ctx) => get(ctx.streamInfo)) };
}

/** Envoy's host name rule: the host's DNS name, or its address when it has none. */
function upstreamHostName(si: StreamInfo): string | undefined {
  if (si.upstreamHost === undefined) return undefined;
  return si.upstreamHostDescription?.hostname || si.upstreamHost;
}

/** `host:port` and `[v6]:port` lose their port; a bare name stays as it is. */
function stripPort(host: string): string {
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    return close > 0 ? host.slice(0, close + 1) : host;
  }
  const colon = host.lastIndexOf(":");
  return colon > 0 && host.indexOf(":") === colon && /^\d+$/.test(host.slice(colon + 1))
    ? host.slice(0, colon)
    : host;
}

/** Address operators by name. */
export const ADDRESS_COMMANDS: CommandTable = {
  ...addressOperators("DOWNSTREAM_REMOTE", (si) => si.downstreamRemoteAddress),
  ...addressOperators("DOWNSTREAM_DIRECT_REMOTE", (si) => si.downstreamDirectRemoteAddress),
  ...addressOperators("DOWNSTREAM_LOCAL", (si) => si.downstreamLocalAddress),
  ...addressOperators(
    "DOWNSTREAM_DIRECT_LOCAL",
    (si) => si.downstreamDirectLocalAddress ?? si.downstreamLocalAddress,
  ),
  ...addressOperators("UPSTREAM_LOCAL", (si) => si.upstreamLocalAddress),
  ...addressOperators("UPSTREAM_REMOTE", (si) => si.upstreamRemoteAddress),
  UPSTREAM_HOST: plainString((si) => si.upstreamHost || undefined),
  UPSTREAM_HOST_NAME: plainString(upstreamHostName),
  UPSTREAM_HOST_NAME_WITHOUT_PORT: plainString((si) => {
    const name = upstreamHostName(si);
    return name === undefined ? undefined : stripPort(name);
  }),
  // Only Envoy internal addresses (internal listeners) have endpoint ids; denvoy's addresses
  // are IPs and pipes, which have none.
  UPSTREAM_REMOTE_ADDRESS_ENDPOINT_ID: plainString(() => undefined),
  DOWNSTREAM_LOCAL_ADDRESS_ENDPOINT_ID: plainString(() => undefined),
  DOWNSTREAM_DIRECT_LOCAL_ADDRESS_ENDPOINT_ID: plainString(() => undefined),
};

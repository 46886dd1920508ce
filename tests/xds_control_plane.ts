/**
 * A test xDS control plane on a different gRPC stack from the proxy's (@grpc/grpc-js, messages
 * encoded with @bufbuild/protobuf): serves `resources` by type URL over ADS (state of the
 * world and delta) and over the per-type SotW services of SDS, RTDS and ECDS; answers a
 * stream's first request of a type and every request whose resource names changed; records
 * every request (ACKs, NACKs with their error_detail).
 */
// @ts-types="./grpc_js.d.ts"
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { apiRegistry } from "../src/config/api.ts";

const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const DELTA_ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/** The per-type SotW services served beside ADS. */
const PER_TYPE: Record<string, string> = {
  StreamSecrets: "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets",
  StreamRuntime: "/envoy.service.runtime.v3.RuntimeDiscoveryService/StreamRuntime",
  StreamExtensionConfigs:
    "/envoy.service.extension.v3.ExtensionConfigDiscoveryService/StreamExtensionConfigs",
};

interface Call {
  on(event: "data", f: (req: DiscoveryRequest | DeltaDiscoveryRequest) => void): void;
  on(event: "end" | "close", f: () => void): void;
  on(event: "error", f: (e: Error) => void): void;
  write(b: Buffer): void;
  end(): void;
}

interface PlaneStream {
  call: Call;
  delta: boolean;
  /** The names last asked for, by type URL. */
  names: Map<string, string>;
}

/** The name of a resource (JSON with `@type`). */
function nameOf(r: unknown): string {
  const o = r as { name?: string; cluster_name?: string };
  return o.name ?? o.cluster_name ?? "";
}

/** The control plane. */
export class ControlPlane {
  readonly requests: DiscoveryRequest[] = [];
  readonly deltaRequests: DeltaDiscoveryRequest[] = [];
  readonly streams = new Set<PlaneStream>();
  readonly versions = new Map<string, number>();
  #server: grpc.Server | undefined;
  #nonce = 0;
  #waiters: (() => void)[] = [];
  port = 0;

  constructor(readonly resources: Map<string, unknown[]>) {}

  async start(port = 0): Promise<void> {
    const server = new grpc.Server();
    const method = <T>(path: string, schema: T) => ({
      path,
      requestStream: true,
      responseStream: true,
      requestSerialize: () => Buffer.alloc(0),
      // deno-lint-ignore no-explicit-any
      requestDeserialize: (b: Uint8Array) => fromBinary(schema as any, b),
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    });
    const sotw = (call: Call) => {
      const st: PlaneStream = { call, delta: false, names: new Map() };
      this.streams.add(st);
      call.on("data", (m) => {
        const req = m as DiscoveryRequest;
        this.requests.push(req);
        for (const w of this.#waiters.splice(0)) w();
        const names = req.resourceNames.join(",");
        const changed = st.names.get(req.typeUrl) !== names;
        st.names.set(req.typeUrl, names);
        if (req.responseNonce === "" || changed) this.#send(st, req.typeUrl);
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
      call.on("close", () => this.streams.delete(st));
    };
    const delta = (call: Call) => {
      const st: PlaneStream = { call, delta: true, names: new Map() };
      this.streams.add(st);
      call.on("data", (m) => {
        const req = m as DeltaDiscoveryRequest;
        this.deltaRequests.push(req);
        for (const w of this.#waiters.splice(0)) w();
        if (req.responseNonce === "" || req.resourceNamesSubscribe.length > 0) {
          this.#send(st, req.typeUrl);
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
      call.on("close", () => this.streams.delete(st));
    };
    const defs: Record<string, ReturnType<typeof method>> = {
      StreamAggregatedResources: method(ADS, DiscoveryRequestSchema),
      DeltaAggregatedResources: method(DELTA_ADS, DeltaDiscoveryRequestSchema),
    };
    const handlers: Record<string, (call: Call) => void> = {
      StreamAggregatedResources: sotw,
      DeltaAggregatedResources: delta,
    };
    for (const [name, path] of Object.entries(PER_TYPE)) {
      defs[name] = method(path, DiscoveryRequestSchema);
      handlers[name] = sotw;
    }
    server.addService(defs, handlers);
    this.port = await new Promise<number>((res, rej) =>
      server.bindAsync(
        `127.0.0.1:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (e, p) => e ? rej(e) : res(p),
      )
    );
    this.#server = server;
  }

  stop(): void {
    this.#server?.forceShutdown();
    this.streams.clear();
  }

  #send(st: PlaneStream, typeUrl: string, removed: string[] = []): void {
    const list = this.resources.get(typeUrl);
    if (!list) return;
    const version = String(this.versions.get(typeUrl) ?? 1);
    const nonce = `n${++this.#nonce}`;
    const registry = apiRegistry();
    if (st.delta) {
      const msg = fromJson(DeltaDiscoveryResponseSchema, {
        system_version_info: version,
        type_url: typeUrl,
        nonce,
        resources: list.map((r) => ({ name: nameOf(r), version, resource: r })),
        removed_resources: removed,
      } as never, { registry });
      st.call.write(Buffer.from(toBinary(DeltaDiscoveryResponseSchema, msg)));
      return;
    }
    const msg = fromJson(DiscoveryResponseSchema, {
      version_info: version,
      type_url: typeUrl,
      nonce,
      resources: list,
    } as never, { registry });
    st.call.write(Buffer.from(toBinary(DiscoveryResponseSchema, msg)));
  }

  /** Pushes a new version of `typeUrl` to every stream (delta: `list` changed, `removed`). */
  push(typeUrl: string, list: unknown[], removed: string[] = []): void {
    this.resources.set(typeUrl, list);
    this.versions.set(typeUrl, (this.versions.get(typeUrl) ?? 1) + 1);
    for (const st of this.streams) this.#send(st, typeUrl, removed);
  }

  /** Waits for a SotW request matching `pred` (among all received so far). */
  waitRequest(pred: (r: DiscoveryRequest) => boolean): Promise<DiscoveryRequest> {
    return this.#wait(() => this.requests.find(pred));
  }

  /** Waits for a delta request matching `pred`. */
  waitDelta(pred: (r: DeltaDiscoveryRequest) => boolean): Promise<DeltaDiscoveryRequest> {
    return this.#wait(() => this.deltaRequests.find(pred));
  }

  async #wait<T>(find: () => T | undefined): Promise<T> {
    for (;;) {
      const r = find();
      if (r) return r;
      await new Promise<void>((res) => this.#waiters.push(res));
    }
  }
}

/**
 * The xDS protocol state of one resource type on a stream, as Envoy's gRPC muxes keep it,
 * independent of the transport: what to send next (the request, ACK or NACK), what a
 * response means (which resources were added, updated, removed), and what to say again after
 * the stream is re-established. State of the world (`DiscoveryRequest`/`Response`) and
 * incremental (`DeltaDiscoveryRequest`/`Response`) each have one class. The transports (gRPC
 * streams, issue 13) move these messages; the subscription layer applies the resources.
 *
 * @module
 */
import { type Any, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Resource } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { durationMs } from "../common/duration.ts";
import { messageSchema } from "../config/api.ts";

/** gRPC status INTERNAL: the code Envoy puts in a NACK's `error_detail`. */
export const NACK_CODE = 13;

/** Envoy truncates the error message of a NACK to keep the request small. */
const MAX_ERROR_DETAIL = 4096;

/** `google.rpc.Status` of a NACK. */
export interface ErrorDetail {
  code: number;
  message: string;
}

/** The fields of a state-of-the-world `DiscoveryRequest` the state decides. */
export interface SotwRequest {
  typeUrl: string;
  versionInfo: string;
  resourceNames: string[];
  responseNonce: string;
  errorDetail?: ErrorDetail;
}

/** The fields of a `DiscoveryResponse` the state reads. */
export interface SotwResponse {
  typeUrl: string;
  versionInfo: string;
  nonce: string;
  resources: readonly Any[];
}

/** The wrapper a state-of-the-world response carries a resource in to give it a TTL. */
export const RESOURCE_WRAPPER = "type.googleapis.com/envoy.service.discovery.v3.Resource";

/** One resource of a `DiscoveryResponse`, as sent or unwrapped from a `Resource`. */
export interface SotwResource {
  /** Absent for a heartbeat (a wrapper with no body). */
  resource?: Any;
  /** The wrapper's name (a bare resource is named by its body). */
  name?: string;
  /** The wrapper's `ttl` in ms. */
  ttlMs?: number;
}

/** Unwraps the `Resource` wrappers of a SotW response (Envoy's `resource-in-sotw` feature). */
function unwrapSotw(resources: readonly Any[]): SotwResource[] {
  return resources.map((any) => {
    if (any.typeUrl !== RESOURCE_WRAPPER) return { resource: any };
    const r = anyUnpack(any, messageSchema<Resource>("envoy.service.discovery.v3.Resource"));
    if (!r) throw new Error("cannot decode an envoy.service.discovery.v3.Resource");
    return {
      name: r.name,
      ...(r.resource ? { resource: r.resource } : {}),
      ...(r.ttl ? { ttlMs: durationMs(r.ttl, 0) } : {}),
    };
  });
}

/** The fields of a `DeltaDiscoveryRequest` the state decides. */
export interface DeltaRequest {
  typeUrl: string;
  resourceNamesSubscribe: string[];
  resourceNamesUnsubscribe: string[];
  initialResourceVersions: Record<string, string>;
  responseNonce: string;
  errorDetail?: ErrorDetail;
}

/** One resource of a `DeltaDiscoveryResponse`. */
export interface DeltaResource {
  name: string;
  version: string;
  /** Absent for a heartbeat or a resource that only names its aliases. */
  resource?: Any;
  /** `Resource.ttl` in ms: the resource expires unless received again within it. */
  ttlMs?: number;
}

/** The fields of a `DeltaDiscoveryResponse` the state reads. */
export interface DeltaResponse {
  typeUrl: string;
  systemVersionInfo: string;
  nonce: string;
  resources: readonly DeltaResource[];
  removedResources: readonly string[];
}

/** What a delta response changes, for the subscription to apply as one update. */
export interface DeltaUpdate {
  added: DeltaResource[];
  removed: string[];
  systemVersionInfo: string;
}

function errorDetail(e: unknown): ErrorDetail {
  const message = e instanceof Error ? e.message : String(e);
  return { code: NACK_CODE, message: message.slice(0, MAX_ERROR_DETAIL) };
}

function checkTypes(typeUrl: string, resources: Iterable<Any | undefined>): void {
  for (const r of resources) {
    if (r && r.typeUrl !== typeUrl) {
      throw new Error(
        `type URL ${r.typeUrl} embedded in an individual Any does not match the ` +
          `message-wide type URL ${typeUrl} in DiscoveryResponse`,
      );
    }
  }
}

/**
 * State of the world for one type: the names subscribed (none: wildcard), the last accepted
 * version and the last nonce received.
 */
export class SotwState {
  #names: string[];
  #version = "";
  #nonce = "";

  constructor(readonly typeUrl: string, names: readonly string[] = []) {
    this.#names = [...names].sort();
  }

  /** The version of the last accepted response. */
  get versionInfo(): string {
    return this.#version;
  }

  /** The request to send now (first request, or after the interest changed). */
  request(): SotwRequest {
    return {
      typeUrl: this.typeUrl,
      versionInfo: this.#version,
      resourceNames: [...this.#names],
      responseNonce: this.#nonce,
    };
  }

  /** Changes the resource names of interest; returns the request announcing it. */
  setNames(names: readonly string[]): SotwRequest {
    this.#names = [...names].sort();
    return this.request();
  }

  /**
   * The stream was re-established: the nonce of the old stream means nothing on the new one,
   * the version accepted still holds.
   */
  streamReset(): SotwRequest {
    this.#nonce = "";
    return this.request();
  }

  /**
   * Handles a response for this type: `apply` gets its resources (unwrapped from any
   * `Resource` wrapper, with its TTL) and throws to reject them;
   * `invalid` hears of a response refused before (a resource of another type). Returns the
   * ACK (the response's version) or the NACK (the previous version and the error).
   */
  onResponse(
    response: SotwResponse,
    apply: (resources: readonly SotwResource[], versionInfo: string) => void,
    invalid?: (detail: string) => void,
  ): SotwRequest {
    if (response.typeUrl !== this.typeUrl) {
      throw new Error(`response for ${response.typeUrl} on the ${this.typeUrl} state`);
    }
    this.#nonce = response.nonce;
    let resources: SotwResource[];
    try {
      resources = unwrapSotw(response.resources);
      checkTypes(this.typeUrl, resources.map((r) => r.resource));
    } catch (e) {
      invalid?.((e as Error).message);
      return { ...this.request(), errorDetail: errorDetail(e) };
    }
    try {
      apply(resources, response.versionInfo);
    } catch (e) {
      return { ...this.request(), errorDetail: errorDetail(e) };
    }
    this.#version = response.versionInfo;
    return this.request();
  }
}

/**
 * Incremental xDS for one type: the resources known with their versions (said again as
 * `initial_resource_versions` on a new stream), and the interest changes not yet sent.
 */
export class DeltaState {
  readonly #versions = new Map<string, string>();
  readonly #names = new Set<string>();
  #subscribe = new Set<string>();
  #unsubscribe = new Set<string>();
  #nonce = "";
  #first = true;
  readonly #wildcard: boolean;

  /** `names` empty: a wildcard subscription (LDS, CDS). */
  constructor(readonly typeUrl: string, names: readonly string[] = []) {
    this.#wildcard = names.length === 0;
    for (const n of names) this.#names.add(n);
  }

  /** The versions of the resources held, by name. */
  get versions(): ReadonlyMap<string, string> {
    return this.#versions;
  }

  /** Subscribes to more names; the next request says so. */
  subscribe(names: readonly string[]): void {
    for (const n of names) {
      if (this.#names.has(n)) continue;
      this.#names.add(n);
      if (!this.#unsubscribe.delete(n)) this.#subscribe.add(n);
    }
  }

  /** Unsubscribes from names; their resources are forgotten. */
  unsubscribe(names: readonly string[]): void {
    for (const n of names) {
      if (!this.#names.delete(n)) continue;
      this.#versions.delete(n);
      if (!this.#subscribe.delete(n)) this.#unsubscribe.add(n);
    }
  }

  /** Whether there is interest news to send. */
  get pending(): boolean {
    return this.#first || this.#subscribe.size > 0 || this.#unsubscribe.size > 0;
  }

  /**
   * The request to send now: on a new stream every name of interest and every version held;
   * later only what changed since the last request.
   */
  request(): DeltaRequest {
    let subscribe: string[];
    let unsubscribe: string[] = [];
    let initial: Record<string, string> = {};
    if (this.#first) {
      this.#first = false;
      // An explicit "*" keeps a wildcard subscription wildcard once names are added to it.
      subscribe = this.#wildcard && this.#names.size > 0 ? ["*", ...this.#names] : [...this.#names];
      initial = Object.fromEntries(this.#versions);
    } else {
      subscribe = [...this.#subscribe];
      unsubscribe = [...this.#unsubscribe];
    }
    this.#subscribe = new Set();
    this.#unsubscribe = new Set();
    return {
      typeUrl: this.typeUrl,
      resourceNamesSubscribe: subscribe.sort(),
      resourceNamesUnsubscribe: unsubscribe.sort(),
      initialResourceVersions: initial,
      responseNonce: this.#nonce,
    };
  }

  /**
   * The TTL of `names` passed: their versions are forgotten (a new stream does not claim them
   * in `initial_resource_versions`) while the interest in them stays, as Envoy's.
   */
  expire(names: readonly string[]): void {
    for (const n of names) this.#versions.delete(n);
  }

  /** The stream was re-established: the next request starts over, with the versions held. */
  streamReset(): DeltaRequest {
    this.#nonce = "";
    this.#first = true;
    return this.request();
  }

  /**
   * Handles a response: `apply` gets what it adds, updates and removes, and throws to reject
   * it; `invalid` hears of a response refused before (duplicate names, a resource of another
   * type). Returns the ACK or the NACK (versions held are unchanged by a rejected response).
   */
  onResponse(
    response: DeltaResponse,
    apply: (update: DeltaUpdate) => void,
    invalid?: (detail: string) => void,
  ): DeltaRequest {
    if (response.typeUrl !== this.typeUrl) {
      throw new Error(`response for ${response.typeUrl} on the ${this.typeUrl} state`);
    }
    this.#nonce = response.nonce;
    const ack = (e?: unknown): DeltaRequest => ({
      typeUrl: this.typeUrl,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: response.nonce,
      ...(e === undefined ? {} : { errorDetail: errorDetail(e) }),
    });
    try {
      const seen = new Set<string>();
      for (const r of response.resources) {
        if (seen.has(r.name)) {
          throw new Error(`duplicate name ${r.name} found among added/updated resources`);
        }
        seen.add(r.name);
      }
      for (const name of response.removedResources) {
        if (seen.has(name)) {
          throw new Error(`name ${name} found in the union of added+removed resources`);
        }
      }
      checkTypes(this.typeUrl, response.resources.map((r) => r.resource));
    } catch (e) {
      invalid?.((e as Error).message);
      return ack(e);
    }
    try {
      // Resources the response carries with no body are heartbeats (a TTL refresh, the
      // resource held at the same version) or name only their aliases.
      const added = response.resources.filter((r) => r.resource !== undefined);
      apply({
        added,
        removed: [...response.removedResources],
        systemVersionInfo: response.systemVersionInfo,
      });
    } catch (e) {
      return ack(e);
    }
    for (const r of response.resources) this.#versions.set(r.name, r.version);
    // A named subscription keeps its interest in a removed resource (it may come back); no
    // version is held for it.
    for (const name of response.removedResources) this.#versions.delete(name);
    return ack();
  }
}

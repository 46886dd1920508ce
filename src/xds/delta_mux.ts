/**
 * The incremental (delta) xDS multiplexer of one stream (Envoy's NewGrpcMuxImpl), independent
 * of the transport: each type keeps the resources it holds (name, version, message), so that
 * a response that adds, updates or removes some of them becomes the whole state of the world
 * the subscription layer applies — or rejects, in which case nothing is kept and the type is
 * NACKed. Interest changes go out as `resource_names_subscribe` / `_unsubscribe`; a new stream
 * says again what is held (`initial_resource_versions`). A resource sent with a TTL is
 * removed when the TTL passes unless received again (a heartbeat: no body, same version).
 * Responses for types nobody watches are ignored.
 *
 * @module
 */
import { create, type JsonObject, toJsonString } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { getLogger } from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { type DecodeContext, decodeResponseText, rejectedUpdate } from "./decode.ts";
import { type DeltaRequest, type DeltaResponse, DeltaState } from "./protocol_state.ts";
import type { ResourceType } from "./resource_types.ts";
import type { MuxWatch } from "./sotw_mux.ts";
import { ResourceTtls } from "./ttl.ts";
import { watchWants } from "./xdstp.ts";

import type { DiscoveryResponse } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const discoveryResponseSchema = () =>
  messageSchema<DiscoveryResponse>("envoy.service.discovery.v3.DiscoveryResponse");

const log = getLogger("config");

/** A request as sent: the first one of a stream carries the node. */
export type DeltaMuxRequest = DeltaRequest & { node?: JsonObject };

interface TypeState {
  type: ResourceType;
  state: DeltaState;
  watches: Set<MuxWatch>;
  /** The resources held, by name. */
  held: Map<string, Any>;
  ttls: ResourceTtls;
}

/**
 * Whether a watch of `names` wants resource `name` (as the response named it: an xdstp://
 * glob collection's members are named there, as in Envoy's watch map), or its namespace, for
 * VHDS aliases.
 */
function wants(names: readonly string[], name: string, namespaced: boolean): boolean {
  return watchWants(names, name) ||
    namespaced && names.includes(name.slice(0, Math.max(0, name.lastIndexOf("/"))));
}

/** Incremental xDS over one stream. */
export class DeltaMux {
  readonly #types = new Map<string, TypeState>();
  #first = true;

  constructor(
    readonly send: (request: DeltaMuxRequest) => void,
    readonly decode: DecodeContext,
    readonly node: JsonObject,
  ) {}

  /** Adds a watch of `type` (names: none for a wildcard); returns the function removing it. */
  watch(type: ResourceType, watch: MuxWatch): () => void {
    let t = this.#types.get(type.typeUrl);
    if (!t) {
      const created: TypeState = {
        type,
        state: new DeltaState(type.typeUrl, watch.names),
        watches: new Set(),
        held: new Map(),
        ttls: new ResourceTtls((names) => this.#expire(created, names)),
      };
      t = created;
      this.#types.set(type.typeUrl, t);
    } else t.state.subscribe(watch.names);
    t.watches.add(watch);
    const ts = t;
    if (ts.state.pending) this.#send(ts.state.request());
    return () => {
      ts.watches.delete(watch);
      const still = new Set([...ts.watches].flatMap((w) => w.names));
      const gone = watch.names.filter((n) => !still.has(n));
      ts.state.unsubscribe(gone);
      for (const n of gone) {
        ts.held.delete(n);
        ts.ttls.clear(n);
      }
      const last = ts.watches.size === 0;
      if (last) {
        this.#types.delete(ts.type.typeUrl);
        ts.ttls.stop();
      }
      // The server hears of the names no longer wanted even when the type has no watch left
      // (`resource_names_unsubscribe`), as Envoy's mux does.
      if (ts.state.pending && (!last || gone.length > 0)) this.#send(ts.state.request());
    };
  }

  /** A new stream: every type says again what it wants and what it holds. */
  onStreamEstablished(): void {
    this.#first = true;
    for (const t of this.#types.values()) this.#send(t.state.streamReset());
  }

  /** A response: applied to what is held and delivered whole, or NACKed changing nothing. */
  onResponse(response: DeltaResponse): void {
    const t = this.#types.get(response.typeUrl);
    if (!t) {
      log.warn(`Ignoring the delta message for type URL ${response.typeUrl}: no subscribers.`);
      return;
    }
    const reply = t.state.onResponse(response, (update) => {
      // Only heartbeats (each at the version held, with no body): TTLs move, nothing to apply.
      // Not for VHDS, whose bodiless resources answer on-demand aliases (as Envoy's).
      const heartbeats = t.type.service !== "VHDS" && update.added.length === 0 &&
        update.removed.length === 0 &&
        response.resources.length > 0 &&
        response.resources.every((r) =>
          r.resource === undefined && t.held.has(r.name) &&
          t.state.versions.get(r.name) === r.version
        );
      const next = new Map(t.held);
      for (const r of update.added) next.set(r.name, r.resource!);
      for (const name of update.removed) next.delete(name);
      if (!heartbeats) {
        const errors = this.#publish(t, next, update.systemVersionInfo, update.removed, t.watches);
        if (errors.length > 0) throw new Error(errors.join("\n"));
      }
      t.held = next;
      // Every resource the response names (a heartbeat too) starts its TTL again, or loses it
      // when sent without one, as Envoy's DeltaSubscriptionState.
      t.ttls.batch(() => {
        for (const r of response.resources) if (next.has(r.name)) t.ttls.set(r.name, r.ttlMs);
        for (const name of update.removed) t.ttls.clear(name);
      });
    }, (detail) => {
      for (const w of t.watches) w.deliver(rejectedUpdate(t.type, detail));
    });
    this.#send(reply);
  }

  /** Clears every type's TTL timer: the stream stopped for good. */
  stop(): void {
    for (const t of this.#types.values()) t.ttls.stop();
  }

  /**
   * The TTL of `names` passed: they are removed as if the control plane had listed them in
   * `removed_resources` (each subscriber applies a removal as Envoy's does: CDS and LDS remove
   * the cluster or listener, RTDS clears its layer), with an empty version, and nothing is
   * sent to the control plane.
   */
  #expire(t: TypeState, names: string[]): void {
    t.state.expire(names);
    const gone = names.filter((n) => t.held.has(n));
    if (gone.length === 0) return;
    log.info(`${t.type.service}: the TTL of ${gone.join(", ")} expired: removed`);
    const next = new Map(t.held);
    for (const n of gone) next.delete(n);
    t.held = next;
    const namespaced = t.type.namespaced === true;
    const watches = [...t.watches].filter((w) =>
      w.names.length === 0 || gone.some((n) => wants(w.names, n, namespaced))
    );
    try {
      const errors = this.#publish(t, next, "", gone, watches);
      if (errors.length > 0) log.warn(`${t.type.service}: TTL expiry: ${errors.join("\n")}`);
    } catch (e) {
      log.warn(`${t.type.service}: TTL expiry: ${(e as Error).message}`);
    }
  }

  /**
   * Decodes `held` (the whole state of the type) and delivers to each of `watches` its share,
   * with the names `removed` it wants; returns why watches refused it.
   */
  #publish(
    t: TypeState,
    held: ReadonlyMap<string, Any>,
    versionInfo: string,
    removed: readonly string[],
    watches: Iterable<MuxWatch>,
  ): string[] {
    let text: string;
    try {
      text = toJsonString(
        discoveryResponseSchema(),
        create(discoveryResponseSchema(), {
          versionInfo,
          typeUrl: t.type.typeUrl,
          resources: [...held.values()],
        }),
        { registry: apiRegistry() },
      );
    } catch (e) {
      const detail = `cannot decode the ${t.type.service} response: ${(e as Error).message}`;
      for (const w of watches) w.deliver(rejectedUpdate(t.type, detail));
      throw new Error(detail);
    }
    const result = decodeResponseText(text, `${t.type.service} response`, t.type, this.decode);
    const errors: string[] = [];
    const namespaced = t.type.namespaced === true;
    // The decoded resources are in the order held: each is wanted by the name held.
    const heldNames = [...held.keys()];
    for (const w of watches) {
      const names = w.names;
      const own = !result.update ? result : {
        ...result,
        update: {
          ...result.update,
          resources: names.length === 0
            ? result.update.resources
            : result.update.resources.filter((_, i) => wants(names, heldNames[i], namespaced)),
          removed: names.length === 0
            ? removed
            : removed.filter((n) => wants(names, n, namespaced)),
        },
      } as typeof result;
      const error = w.deliver(own);
      if (error !== undefined) errors.push(error);
    }
    return errors;
  }

  #send(request: DeltaRequest): void {
    if (this.#first) {
      this.#first = false;
      this.send({ ...request, node: this.node });
    } else this.send(request);
  }
}

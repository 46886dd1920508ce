/**
 * The state-of-the-world xDS multiplexer of one stream (Envoy's GrpcMuxImpl), independent of
 * the transport: subscriptions of every type share the stream; each type's interest is the
 * union of its watchers' names; a response is decoded once, each watcher gets the resources
 * it asked for, and the type is ACKed or NACKed (`error_detail`) as a whole. Resources may come
 * wrapped in a `Resource` with a TTL, and expire when it passes. A response for a
 * type nobody watches (or a type xDS does not define) is ignored, as Envoy does. The gRPC
 * stream (issue 13) only has to call {@linkcode SotwMux.onResponse} and
 * {@linkcode SotwMux.onStreamEstablished} and send what `send` is given.
 *
 * @module
 */
import { create, type JsonObject, toJsonString } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { DiscoveryResponse } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { getLogger } from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import {
  type DecodeContext,
  decodeResponseText,
  type DecodeResult,
  rejectedUpdate,
} from "./decode.ts";
import { type SotwRequest, type SotwResponse, SotwState } from "./protocol_state.ts";
import { RESOURCE_TYPES, type ResourceType } from "./resource_types.ts";
import { ResourceTtls } from "./ttl.ts";
import { watchWants } from "./xdstp.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const discoveryResponseSchema = () =>
  messageSchema<DiscoveryResponse>("envoy.service.discovery.v3.DiscoveryResponse");

const log = getLogger("config");

/** A request as sent: the first one of a stream carries the node. */
export type MuxRequest = SotwRequest & { node?: JsonObject };

/**
 * One subscription's share of a type: the names it wants (none: all; `xdstp://` names in
 * normal form, glob collections `.../*` included) and its delivery.
 */
export interface MuxWatch {
  readonly names: readonly string[];
  /** Gets the decoded update (its resources filtered to `names`); returns why it was refused. */
  deliver(result: DecodeResult): string | undefined;
}

interface TypeState {
  type: ResourceType;
  state: SotwState;
  watches: Set<MuxWatch>;
  /** The resources accepted, by name, while some of them have a TTL running. */
  held: Map<string, Any>;
  ttls: ResourceTtls;
}

/** State of the world over one stream. */
export class SotwMux {
  readonly #types = new Map<string, TypeState>();
  #first = true;

  constructor(
    readonly send: (request: MuxRequest) => void,
    readonly decode: DecodeContext,
    /** The node every stream's first request carries. */
    readonly node: JsonObject,
  ) {}

  /** Adds a watch of `type`; returns the function that removes it. Sends the new interest. */
  watch(type: ResourceType, watch: MuxWatch): () => void {
    let ts = this.#types.get(type.typeUrl);
    if (!ts) {
      const created: TypeState = {
        type,
        state: new SotwState(type.typeUrl),
        watches: new Set(),
        held: new Map(),
        ttls: new ResourceTtls((names) => this.#expire(created, names)),
      };
      ts = created;
      this.#types.set(type.typeUrl, ts);
    }
    ts.watches.add(watch);
    const t = ts;
    this.#send(t.state.setNames(this.#names(t)));
    return () => {
      t.watches.delete(watch);
      if (t.watches.size > 0) {
        const names = this.#names(t);
        for (const n of watch.names) {
          if (names.includes(n)) continue;
          t.held.delete(n);
          t.ttls.clear(n);
        }
        this.#send(t.state.setNames(names));
        return;
      }
      this.#types.delete(t.type.typeUrl);
      t.ttls.stop();
      // The last named watch went: an empty resource_names (past the stream's first request it
      // is no wildcard) tells the server nothing of the type is wanted any more, as Envoy's
      // mux does. A wildcard watch (LDS, CDS) only goes when the server stops.
      if (watch.names.length > 0) this.#send(t.state.setNames([]));
    };
  }

  /** A new stream: every type is requested again (its accepted version kept, no nonce). */
  onStreamEstablished(): void {
    this.#first = true;
    for (const t of this.#types.values()) this.#send(t.state.streamReset());
  }

  /**
   * A response arrived: decoded once, delivered to every watch of its type, answered with an
   * ACK or a NACK. Responses for types nobody watches are ignored. Resources wrapped in a
   * `Resource` may carry a TTL; a wrapper with no body at the version held is a heartbeat: it
   * only moves its TTL.
   */
  onResponse(response: SotwResponse): void {
    const t = this.#types.get(response.typeUrl);
    if (!t) {
      const known = RESOURCE_TYPES.has(response.typeUrl) ? "" : " (not an xDS type)";
      log.warn(
        `Ignoring the message for type URL ${response.typeUrl}${known} as it has no current ` +
          "subscribers.",
      );
      return;
    }
    const reply = t.state.onResponse(response, (resources, versionInfo) => {
      const bodies: Any[] = [];
      const ttls: (number | undefined)[] = [];
      let heartbeats = 0;
      for (const r of resources) {
        if (!r.resource) {
          if (versionInfo !== t.state.versionInfo) {
            throw new Error(
              `resource '${r.name}' has no body and is not a heartbeat (version ` +
                `'${versionInfo}' is not the one held, '${t.state.versionInfo}')`,
            );
          }
          heartbeats++;
          t.ttls.set(r.name!, r.ttlMs);
          // The resource stays as held (a wildcard watch's state of the world keeps it).
          const held = t.held.get(r.name!);
          if (!held) continue;
          bodies.push(held);
        } else bodies.push(r.resource);
        ttls.push(r.ttlMs);
      }
      if (heartbeats > 0 && heartbeats === resources.length) return;
      const result = this.#decode(t, bodies, versionInfo, response.nonce);
      const errors = this.#deliver(t, result);
      if (errors.length > 0) throw new Error(errors.join("\n"));
      this.#hold(t, result.update!.resources.map((r) => r.name), bodies, ttls);
    }, (detail) => this.#deliver(t, rejectedUpdate(t.type, detail)));
    this.#send(reply);
  }

  /** Clears every type's TTL timer: the stream stopped for good. */
  stop(): void {
    for (const t of this.#types.values()) t.ttls.stop();
  }

  /**
   * An accepted response's resources start their TTLs (or lose them, sent bare or without
   * one). While some TTL runs, the resources are held, so that a heartbeat keeps its resource
   * and an expiry can deliver the state of the world without it; a wildcard type's response
   * is its whole state, a named type's adds to what is held.
   */
  #hold(t: TypeState, names: string[], bodies: Any[], ttls: (number | undefined)[]): void {
    // No TTL before or now (the common case): nothing to hold.
    if (t.ttls.size === 0 && !ttls.some((ms) => ms !== undefined && ms > 0)) {
      if (t.held.size > 0) t.held = new Map();
      return;
    }
    const wildcard = [...t.watches].some((w) => w.names.length === 0);
    const held = wildcard ? new Map<string, Any>() : t.held;
    t.ttls.batch(() => {
      // What a wildcard type's new state leaves out is gone: its TTL with it.
      if (wildcard && t.held.size > 0) {
        const kept = new Set(names);
        for (const name of t.held.keys()) if (!kept.has(name)) t.ttls.clear(name);
      }
      names.forEach((name, i) => {
        held.set(name, bodies[i]);
        t.ttls.set(name, ttls[i]);
      });
    });
    t.held = t.ttls.size > 0 ? held : new Map();
  }

  /**
   * The TTL of `names` passed: each watch that wants one of them gets what is held without
   * them, and the names removed, with an empty version, as Envoy's GrpcMuxImpl expiry
   * (CDS and LDS remove the resources, RTDS clears its layer, EDS keeps its endpoints).
   * Nothing is sent to the control plane.
   */
  #expire(t: TypeState, names: string[]): void {
    log.info(`${t.type.service}: the TTL of ${names.join(", ")} expired: removed`);
    for (const n of names) t.held.delete(n);
    try {
      const result = this.#decode(t, [...t.held.values()], "", "");
      for (const w of t.watches) {
        const removed = w.names.length === 0 ? names : names.filter((n) => watchWants(w.names, n));
        if (removed.length === 0) continue;
        const mine = filtered(result, w.names);
        const error = w.deliver(mine.ok ? { ok: true, update: { ...mine.update, removed } } : mine);
        if (error !== undefined) log.warn(`${t.type.service}: TTL expiry: ${error}`);
      }
    } catch (e) {
      log.warn(`${t.type.service}: TTL expiry: ${(e as Error).message}`);
    }
  }

  /** Decodes `resources` as a response of `t`'s type (a codec failure is delivered, thrown). */
  #decode(t: TypeState, resources: Any[], versionInfo: string, nonce: string): DecodeResult {
    const msg: DiscoveryResponse = create(discoveryResponseSchema(), {
      versionInfo,
      typeUrl: t.type.typeUrl,
      nonce,
      resources,
    });
    let text: string;
    try {
      text = toJsonString(discoveryResponseSchema(), msg, { registry: apiRegistry() });
    } catch (e) {
      const detail = `cannot decode the ${t.type.service} response: ${(e as Error).message}`;
      this.#deliver(t, rejectedUpdate(t.type, detail));
      throw new Error(detail);
    }
    return decodeResponseText(text, `${t.type.service} response`, t.type, this.decode);
  }

  /** Delivers `result` to every watch of `t` (each counts it); returns why they refused it. */
  #deliver(t: TypeState, result: DecodeResult): string[] {
    const errors: string[] = [];
    for (const w of t.watches) {
      const mine = filtered(result, w.names);
      // As Envoy's GrpcMuxImpl: a watch of named resources hears only of responses that
      // carry one of them (a wildcard watch hears of every one: an empty one removes all).
      if (mine.ok && w.names.length > 0 && mine.update.resources.length === 0) continue;
      const error = w.deliver(mine);
      if (error !== undefined) errors.push(error);
    }
    return errors;
  }

  #names(t: TypeState): string[] {
    const names = new Set<string>();
    for (const w of t.watches) for (const n of w.names) names.add(n);
    return [...names];
  }

  #send(request: SotwRequest): void {
    if (this.#first) {
      this.#first = false;
      this.send({ ...request, node: this.node });
    } else this.send(request);
  }
}

/** The part of `result` a watch of `names` asked for (all of it for a wildcard watch). */
function filtered(result: DecodeResult, names: readonly string[]): DecodeResult {
  if (names.length === 0 || !result.update) return result;
  const update = {
    ...result.update,
    resources: result.update.resources.filter((r) => watchWants(names, r.name)),
  };
  return result.ok ? { ok: true, update } : { ...result, update };
}

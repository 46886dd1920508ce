/**
 * `path_config_source`: the resources of a type are read from a file holding a
 * DiscoveryResponse (YAML or JSON), at start and whenever the file is replaced, as Envoy does
 * it: an update is a file moved into place (`mv`, an atomic rename), or, with
 * `watched_directory`, anything moved into that directory (the atomic symlink swap of a
 * Kubernetes ConfigMap: `..data` re-pointed at a new directory). Writing the file in place is
 * not watched, as in Envoy: a half-written file is never read.
 *
 * @module
 */
import { fromBinary, toJsonString } from "@bufbuild/protobuf";
import type { DiscoveryResponse } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { getLogger } from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { type DecodeContext, decodeResponseText } from "./decode.ts";
import type { ResourceType } from "./resource_types.ts";
import { SubscriptionBase, type SubscriptionCallbacks } from "./subscription.ts";
import type { SubscriptionStats } from "./subscription_stats.ts";

const log = getLogger("config");

/** Where the file is and what watches it. */
export interface FilesystemSource {
  path: string;
  /** `watched_directory.path`: moves into it trigger a reload. */
  watchedDirectory?: string;
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** A subscription fed by a watched file. */
export class FilesystemSubscription extends SubscriptionBase {
  #watcher: Deno.FsWatcher | undefined;

  constructor(
    readonly source: FilesystemSource,
    type: ResourceType,
    stats: SubscriptionStats,
    readonly decode: DecodeContext,
    callbacks: SubscriptionCallbacks,
    initialFetchTimeoutMs: number,
  ) {
    super(type, stats, callbacks, initialFetchTimeoutMs, `'${source.path}'`);
  }

  protected begin(): void {
    const dir = this.source.watchedDirectory ?? dirname(this.source.path);
    try {
      this.#watcher = Deno.watchFs(dir, { recursive: false });
    } catch (e) {
      this.fetchFailed(`cannot watch '${dir}': ${(e as Error).message}`);
    }
    if (this.#watcher) this.#watch(this.#watcher, dir);
    this.refresh();
  }

  protected end(): void {
    try {
      this.#watcher?.close();
    } catch { /* already closed */ }
    this.#watcher = undefined;
  }

  async #watch(watcher: Deno.FsWatcher, dir: string): Promise<void> {
    const file = this.source.path.slice(this.source.path.lastIndexOf("/") + 1);
    try {
      for await (const e of watcher) {
        // Deno reports an inotify IN_MOVED_TO as a "rename" naming the destination only; a
        // move within the directory is reported once more naming both ends, skipped here.
        if (e.kind !== "rename" || e.paths.length !== 1) continue;
        const to = e.paths[0];
        const moved = this.source.watchedDirectory !== undefined
          ? to.startsWith(dir)
          : to === this.source.path || to.endsWith(`/${file}`) && dirname(to) === dir;
        if (moved) this.refresh();
      }
    } catch (e) {
      // The directory went away (or the watch failed): updates stop until a restart.
      if (this.#watcher) {
        log.warn(`${this.type.service}: watching '${dir}' failed: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Reads the file and delivers what it holds. As Envoy, the extension says the format: `.pb`
   * is a binary DiscoveryResponse, anything else YAML or JSON.
   */
  refresh(): void {
    let text: string;
    try {
      text = this.source.path.endsWith(".pb")
        ? binaryAsJson(Deno.readFileSync(this.source.path))
        : Deno.readTextFileSync(this.source.path);
    } catch (e) {
      this.fetchFailed(`cannot read '${this.source.path}': ${(e as Error).message}`);
      return;
    }
    this.deliver(decodeResponseText(text, this.source.path, this.type, this.decode));
  }
}

/** A binary DiscoveryResponse as proto JSON, for the same checks as a text file. */
function binaryAsJson(bytes: Uint8Array): string {
  const schema = messageSchema<DiscoveryResponse>("envoy.service.discovery.v3.DiscoveryResponse");
  return toJsonString(schema, fromBinary(schema, bytes), { registry: apiRegistry() });
}

/**
 * The admin's own access log (bootstrap `admin.access_log`, and the deprecated
 * `admin.access_log_path`, a file logger with Envoy's default format): each admin request is
 * described as a stream and handed to the same loggers and formatters as the data path.
 *
 * @module
 */
import type { Admin } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import {
  type AccessLogInstance,
  createAccessLogs,
} from "../extensions/access_loggers/access_log.ts";
import {
  type AccessLogManager,
  defaultAccessLogManager,
} from "../extensions/access_loggers/access_log_manager.ts";
import { compileFormat, DEFAULT_ACCESS_LOG_FORMAT } from "../formatter/substitution_formatter.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";

/** Builds the admin's loggers; throws an Error naming a bad logger config. */
export function createAdminAccessLogs(
  admin: Admin | undefined,
  manager: AccessLogManager = defaultAccessLogManager(),
): AccessLogInstance[] {
  if (!admin) return [];
  const logs = createAccessLogs(admin.accessLog, manager);
  if (admin.accessLogPath) {
    const writer = manager.writer(admin.accessLogPath);
    const format = compileFormat(DEFAULT_ACCESS_LOG_FORMAT);
    logs.push({ log: (ctx) => writer.write(format.format(ctx)) });
  }
  return logs;
}

/** Where an admin request came from, as Deno.serve reports it. */
export interface AdminPeer {
  remoteAddr?: Deno.Addr;
}

function addrText(a: Deno.Addr | undefined): string {
  if (!a || (a.transport !== "tcp" && a.transport !== "udp")) return "";
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

/** The stream info of one finished admin request, as the HTTP connection manager would fill it. */
export async function adminStreamInfo(
  req: Request,
  res: Response,
  started: StreamInfo,
  requestBytes: number,
  peer: AdminPeer | undefined,
  localAddress: string,
): Promise<StreamInfo> {
  const url = new URL(req.url);
  const si = started;
  const rh = HeaderMap.from([
    [":method", req.method],
    [":path", url.pathname + url.search],
    [":authority", req.headers.get("host") ?? url.host],
    [":scheme", url.protocol.slice(0, -1)],
  ]);
  req.headers.forEach((v, k) => k !== "host" && rh.add(k, v));
  si.requestHeaders = rh;
  const resh = HeaderMap.from([[":status", String(res.status)]]);
  res.headers.forEach((v, k) => resh.add(k, v));
  si.responseHeaders = resh;
  si.protocol = "HTTP/1.1";
  si.responseCode = res.status;
  si.bytesReceived = requestBytes;
  // The body is read from a clone so the client still gets it.
  si.bytesSent = (await res.clone().arrayBuffer()).byteLength;
  si.downstreamRemoteAddress = addrText(peer?.remoteAddr);
  si.downstreamDirectRemoteAddress = si.downstreamRemoteAddress;
  si.downstreamLocalAddress = localAddress;
  si.finish();
  return si;
}

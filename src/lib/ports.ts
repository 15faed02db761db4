/**
 * Published ports and network modes of `uno run`, in docker's formats:
 *
 *   -p, --publish [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp]   also ranges: 8000-8010:80-90
 *   -P, --publish-all                                        the image's EXPOSEd ports
 *   --network default|bridge|none|allow=CIDR[,CIDR...]
 *
 * Everything here is pure (parsing, validation, range expansion, formatting) except
 * resolveHostPorts(), which binds sockets on the host to check fixed ports and to choose the
 * random ones.
 */
import * as dgram from "node:dgram";
import * as net from "node:net";
import { PortUnavailableError, UsageError } from "./errors.js";

export type Protocol = "tcp" | "udp";

/**
 * One guest port to publish, before host ports are chosen. The host port is
 *  - fixed when hostPortMin === hostPortMax > 0 ("8080:80"),
 *  - random when both are 0 ("80", "127.0.0.1::80", -P),
 *  - any free one in hostPortMin..hostPortMax otherwise ("8000-8010:80", as docker).
 */
export interface PortRequest {
  /** A canonical IPv4 or IPv6 literal ("0.0.0.0", "127.0.0.1", "::1"). */
  hostIp: string;
  hostPortMin: number;
  hostPortMax: number;
  guestPort: number;
  protocol: Protocol;
  /** What the user wrote, for error messages ("-p 8080:80", "-P (80/tcp)"). */
  source: string;
}

/** A published port once its host port is known. */
export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  guestPort: number;
  protocol: Protocol;
}

/** The most ports an instance can publish (uno-vmm's NET_MAX_PUBLISH). */
export const MAX_PUBLISHED_PORTS = 256;

/** The most CIDRs --network allow= takes (uno-vmm's NET_MAX_ALLOW). */
export const MAX_ALLOW_CIDRS = 32;

/** The host address ports are published on when -p names none (docker's). */
export const DEFAULT_HOST_IP = "0.0.0.0";

const PUBLISH_FORMAT = "[HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp]";

/**
 * Canonical text of an IPv4 or IPv6 literal ("0:0::1" → "::1"), or undefined when `text` is
 * not one. Zone ids ("fe80::1%eth0"), brackets and IPv4 with leading zeros are not literals.
 */
export function canonicalIp(text: string): string | undefined {
  if (text.includes("%")) return undefined;
  const family = net.isIP(text);
  if (family === 4) return text;
  if (family === 6) {
    return new net.SocketAddress({ address: text, family: "ipv6" }).address;
  }
  return undefined;
}

/** The 4 or 16 bytes of a canonical IP literal. */
export function ipBytes(ip: string): number[] {
  if (net.isIPv4(ip)) return ip.split(".").map(Number);
  // Expand "a::b" and a trailing dotted IPv4 into eight 16-bit groups.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    text =
      text.slice(0, v4.index) +
      ((b[0]! << 8) | b[1]!).toString(16) +
      ":" +
      ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups =
    tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    out.push(n >> 8, n & 0xff);
  }
  return out;
}

/** IPv6 literals are written in brackets next to a port. */
function hostWithPort(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function usage(spec: string, why: string): UsageError {
  return new UsageError(`invalid --publish "${spec}": ${why}`);
}

/** A port number 1..65535 (decimal digits only). */
function parsePort(text: string, what: string, spec: string): number {
  if (!/^\d+$/.test(text)) {
    throw usage(spec, `${what} "${text}" is not a port number (1-65535)`);
  }
  const n = Number(text);
  if (n < 1 || n > 65535) {
    const hint =
      n === 0 && what.startsWith("host")
        ? "; for a random host port leave it out: -p GUESTPORT or -p HOSTIP::GUESTPORT"
        : "";
    throw usage(spec, `${what} ${text} is out of range (1-65535)${hint}`);
  }
  return n;
}

/** "80" or "8000-8010" → [start, end]. */
function parseRange(text: string, what: string, spec: string): [number, number] {
  if (text === "") throw usage(spec, `the ${what} is empty (expected ${PUBLISH_FORMAT})`);
  const parts = text.split("-");
  if (parts.length > 2 || (parts.length === 2 && (parts[0] === "" || parts[1] === ""))) {
    throw usage(spec, `the ${what} range "${text}" should be START-END`);
  }
  const start = parsePort(parts[0]!, what, spec);
  const end = parts.length === 2 ? parsePort(parts[1]!, what, spec) : start;
  if (end < start) {
    throw usage(spec, `the ${what} range ${text} ends before it starts`);
  }
  return [start, end];
}

/** "tcp", "udp" (any case); sctp and others are refused. */
function parseProtocol(text: string, spec: string): Protocol {
  const p = text.toLowerCase();
  if (p === "tcp" || p === "udp") return p;
  if (p === "sctp") throw usage(spec, "sctp is not supported: use /tcp or /udp");
  throw usage(spec, `unknown protocol "${text}": use /tcp or /udp`);
}

/**
 * Parses one -p/--publish value into one request per guest port (ranges expanded):
 *
 *   80                     guest port 80 on a random host port of 0.0.0.0
 *   8080:80                host port 8080 of 0.0.0.0 to guest port 80
 *   127.0.0.1:8080:80      only on the host's loopback
 *   127.0.0.1::80          a random host port on the loopback
 *   [::1]:8080:80          IPv6 host addresses in brackets (docker also takes ::1:8080:80)
 *   8000-8010:80-90        ranges of equal length, port by port
 *   8000-8010:80           any free host port from 8000 to 8010 (docker's dynamic range)
 *   53:53/udp              the protocol: tcp (default) or udp
 */
export function parsePublishSpec(spec: string): PortRequest[] {
  if (spec.trim() === "") throw usage(spec, `empty (expected ${PUBLISH_FORMAT})`);
  if (/\s/.test(spec)) throw usage(spec, "it contains whitespace");

  let rest = spec;
  let protocol: Protocol = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const proto = rest.slice(slash + 1);
    if (proto === "") throw usage(spec, "nothing after '/': use /tcp or /udp");
    protocol = parseProtocol(proto, spec);
    rest = rest.slice(0, slash);
  }
  // A bracketed IPv6 host IP comes first: [ADDR]:[HOSTPORT]:GUESTPORT.
  let ipText: string | undefined;
  let bracketed = false;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw usage(spec, "no ']' after the IPv6 host IP");
    ipText = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (!after.startsWith(":") || after.split(":").length !== 3) {
      throw usage(
        spec,
        `after [${ipText}] expected :HOSTPORT:GUESTPORT (:: and GUESTPORT for a random host port)`,
      );
    }
    bracketed = true;
    rest = after.slice(1);
  } else if (rest.includes("]")) {
    throw usage(spec, "a ']' without '[': write IPv6 host IPs as [ADDR]:HOSTPORT:GUESTPORT");
  }
  // docker's split: the last part is the guest port, the one before the host port, and
  // whatever precedes them the host IP (which may itself contain colons: ::1:8080:80).
  const parts = rest.split(":");
  const guestText = parts[parts.length - 1]!;
  let hostText = "";
  if (parts.length >= 2) hostText = parts[parts.length - 2]!;
  if (parts.length >= 3) ipText = parts.slice(0, -2).join(":");

  let hostIp = DEFAULT_HOST_IP;
  if (ipText !== undefined) {
    const ip = ipText;
    if (bracketed && !net.isIPv6(ip)) {
      throw usage(spec, `brackets are for IPv6 addresses; "${ip}" is not one`);
    }
    if (ip === "") throw usage(spec, "the host IP is empty (leave it out for 0.0.0.0)");
    const c = canonicalIp(ip);
    if (c === undefined) {
      const why = ip.includes("%")
        ? "zone ids are not supported"
        : "not an IPv4 or IPv6 address (host names are not accepted)";
      throw usage(spec, `host IP "${ip}": ${why}`);
    }
    hostIp = c;
  }

  const [gStart, gEnd] = parseRange(guestText, "guest port", spec);
  const count = gEnd - gStart + 1;
  let hStart = 0;
  let hEnd = 0;
  if (hostText !== "") {
    [hStart, hEnd] = parseRange(hostText, "host port", spec);
    const hCount = hEnd - hStart + 1;
    if (hCount !== count && count !== 1) {
      throw usage(
        spec,
        `the host range ${hostText} has ${hCount} port(s) but the guest range ${guestText} has ${count}: ranges must be of equal length`,
      );
    }
  }

  const out: PortRequest[] = [];
  for (let i = 0; i < count; i++) {
    const dynamic = count === 1 && hEnd > hStart;
    out.push({
      hostIp,
      hostPortMin: hStart === 0 ? 0 : dynamic ? hStart : hStart + i,
      hostPortMax: hStart === 0 ? 0 : dynamic ? hEnd : hStart + i,
      guestPort: gStart + i,
      protocol,
      source: `-p ${spec}`,
    });
  }
  return out;
}

/** Do two requests' host addresses overlap? A wildcard covers its family ("::" both). */
function addressesOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const any4 = (ip: string): boolean => ip === "0.0.0.0";
  const any6 = (ip: string): boolean => ip === "::";
  const v4 = (ip: string): boolean => net.isIPv4(ip) || ip.startsWith("::ffff:");
  if (any6(a) || any6(b)) return true; // dual-stack: "::" also takes IPv4
  if (any4(a)) return v4(b);
  if (any4(b)) return v4(a);
  return false;
}

/**
 * Refuses two requests that would bind the same host port twice (same protocol, overlapping
 * addresses): docker's "port is already allocated", found before anything starts.
 */
export function checkPublishConflicts(requests: readonly PortRequest[]): void {
  const fixed = requests.filter((r) => r.hostPortMin !== 0 && r.hostPortMin === r.hostPortMax);
  for (let i = 0; i < fixed.length; i++) {
    for (let j = i + 1; j < fixed.length; j++) {
      const a = fixed[i]!;
      const b = fixed[j]!;
      if (
        a.protocol === b.protocol &&
        a.hostPortMin === b.hostPortMin &&
        addressesOverlap(a.hostIp, b.hostIp)
      ) {
        const where = (r: PortRequest): string =>
          `${hostWithPort(r.hostIp, r.hostPortMin)}/${r.protocol}`;
        // One spec cannot collide with itself (its ranges are of distinct ports): the same
        // spec was given twice.
        if (a.source === b.source) {
          throw new UsageError(
            `${a.source} is given twice: each host port (here ${where(a)}) can be published once`,
          );
        }
        const both = where(a) === where(b) ? where(a) : `${where(a)} and ${where(b)}`;
        throw new UsageError(
          `${a.source} and ${b.source} map host port ${both} twice: each host port can be published once`,
        );
      }
    }
  }
}

/** Refuses more published ports (ranges counted port by port) than uno-vmm takes. */
export function checkPublishCount(requests: readonly PortRequest[]): void {
  if (requests.length > MAX_PUBLISHED_PORTS) {
    throw new UsageError(
      `${requests.length} ports to publish (ranges count port by port): an instance publishes at most ${MAX_PUBLISHED_PORTS}`,
    );
  }
}

/** Parses every -p value and checks them against each other. */
export function parsePublish(specs: readonly string[]): PortRequest[] {
  const out = specs.flatMap((s) => parsePublishSpec(s));
  checkPublishCount(out);
  checkPublishConflicts(out);
  return out;
}

/** An EXPOSEd port of an image: "80/tcp", "53/udp", "80" (tcp), "8000-8010/tcp". */
export function parseExposedPort(text: string): { guestPort: number; protocol: Protocol }[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(text);
  const bad = (why: string): UsageError =>
    new UsageError(`the image exposes port "${text}": ${why} (expected PORT[/tcp|/udp])`);
  if (!m) throw bad("not a port");
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 1 || start > 65535 || end < 1 || end > 65535) throw bad("out of range 1-65535");
  if (end < start) throw bad("the range ends before it starts");
  const p = (m[3] ?? "tcp").toLowerCase();
  if (p !== "tcp" && p !== "udp") {
    throw bad(p === "sctp" ? "sctp is not supported" : `unknown protocol ${m[3]}`);
  }
  const out: { guestPort: number; protocol: Protocol }[] = [];
  for (let port = start; port <= end; port++) out.push({ guestPort: port, protocol: p });
  return out;
}

/**
 * -P, --publish-all: every port the image EXPOSEs on a random host port of 0.0.0.0, except
 * the ones -p already publishes (as docker). No exposed ports: nothing is published.
 */
export function publishAllRequests(
  exposedPorts: readonly string[],
  explicit: readonly PortRequest[] = [],
): PortRequest[] {
  const out: PortRequest[] = [];
  const seen = new Set(explicit.map((r) => `${r.guestPort}/${r.protocol}`));
  for (const text of exposedPorts) {
    for (const { guestPort, protocol } of parseExposedPort(text)) {
      const key = `${guestPort}/${protocol}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({
        hostIp: DEFAULT_HOST_IP,
        hostPortMin: 0,
        hostPortMax: 0,
        guestPort,
        protocol,
        source: `-P (${key})`,
      });
    }
  }
  return out;
}

/** uno-vmm's --publish value: HOSTIP:HOSTPORT:GUESTPORT/PROTO, IPv6 as [ADDR]:HOSTPORT:…. */
export function formatVmmPublish(p: PublishedPort): string {
  return `${hostWithPort(p.hostIp, p.hostPort)}:${p.guestPort}/${p.protocol}`;
}

/** docker's way of showing a published port: "0.0.0.0:8080->80/tcp", "[::1]:8080->80/tcp". */
export function formatPublishedPort(p: PublishedPort): string {
  return `${hostWithPort(p.hostIp, p.hostPort)}->${p.guestPort}/${p.protocol}`;
}

/** --network */
export type NetworkMode =
  { mode: "default" } | { mode: "none" } | { mode: "allow"; cidrs: string[] };

/**
 * Parses one CIDR ("10.0.0.0/8", "2001:db8::/32"; a bare address is one host: /32, /128)
 * into its canonical text. Host bits set below the prefix are refused, naming the network
 * that was probably meant.
 */
export function parseCidr(text: string, flag = "--network allow="): string {
  const bad = (why: string): UsageError => new UsageError(`invalid ${flag} CIDR "${text}": ${why}`);
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = canonicalIp(addrText);
  if (ip === undefined) throw bad(`"${addrText}" is not an IPv4 or IPv6 address`);
  const bits = net.isIPv4(ip) ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) {
      throw bad(`the prefix length "/${p}" should be a number from 0 to ${bits}`);
    }
    prefix = Number(p);
  }
  const bytes = ipBytes(ip);
  const masked = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  if (masked.some((b, i) => b !== bytes[i])) {
    const net4 = bits === 32;
    const text2 = net4
      ? masked.join(".")
      : canonicalIp(
          Array.from({ length: 8 }, (_, i) =>
            ((masked[2 * i]! << 8) | masked[2 * i + 1]!).toString(16),
          ).join(":"),
        )!;
    throw bad(`it has host bits set below /${prefix}: did you mean ${text2}/${prefix}?`);
  }
  return `${ip}/${prefix}`;
}

/**
 * Parses --network: "default" (docker's "bridge" is the same: outbound connections, ports
 * published with -p), "none" (no network at all) or "allow=CIDR[,CIDR...]" (outbound only to
 * those networks). There is no host mode: the guest never shares the host's network.
 */
export function parseNetwork(value: string): NetworkMode {
  const v = value.trim();
  if (v === "default" || v === "bridge") return { mode: "default" };
  if (v === "none") return { mode: "none" };
  if (v === "host") {
    throw new UsageError("--network host: uno has no host network mode: use -p to publish ports");
  }
  if (v.startsWith("allow=")) {
    const list = v.slice("allow=".length);
    if (list.trim() === "") {
      throw new UsageError(
        "--network allow= needs at least one CIDR, e.g. allow=10.0.0.0/8,2001:db8::/32 (no network at all: --network none)",
      );
    }
    const cidrs: string[] = [];
    for (const item of list.split(",")) {
      const c = parseCidr(item.trim());
      if (!cidrs.includes(c)) cidrs.push(c);
    }
    if (cidrs.length > MAX_ALLOW_CIDRS) {
      throw new UsageError(
        `--network allow= has ${cidrs.length} CIDRs: at most ${MAX_ALLOW_CIDRS} (join neighbours into wider networks)`,
      );
    }
    return { mode: "allow", cidrs };
  }
  throw new UsageError(
    `unknown --network "${value}": use default, none or allow=CIDR[,CIDR...] (uno has no named networks)`,
  );
}

/** uno-vmm's --network value: "default", "none" or "allow=CIDR,CIDR". */
export function formatNetwork(n: NetworkMode): string {
  return n.mode === "allow" ? `allow=${n.cidrs.join(",")}` : n.mode;
}

type Held = { close(): Promise<void> };

/** Binds `port` (0: any) on ip for the protocol; resolves with the socket and its port. */
function tryBind(
  ip: string,
  port: number,
  protocol: Protocol,
): Promise<{ held: Held; port: number } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    if (protocol === "tcp") {
      const server = net.createServer();
      server.once("error", (error: NodeJS.ErrnoException) => resolve({ error }));
      server.listen({ host: ip, port, exclusive: true }, () => {
        const a = server.address() as net.AddressInfo;
        const close = (): Promise<void> => new Promise((done) => server.close(() => done()));
        resolve({ held: { close }, port: a.port });
      });
    } else {
      const sock = dgram.createSocket({ type: net.isIPv6(ip) ? "udp6" : "udp4" });
      sock.once("error", (error: NodeJS.ErrnoException) => {
        sock.close();
        resolve({ error });
      });
      sock.bind({ address: ip, port, exclusive: true }, () => {
        const close = (): Promise<void> => new Promise((done) => sock.close(() => done()));
        resolve({ held: { close }, port: sock.address().port });
      });
    }
  });
}

function bindProblem(r: PortRequest, port: number, e: NodeJS.ErrnoException): string {
  const where = `${hostWithPort(r.hostIp, port)}/${r.protocol}`;
  switch (e.code) {
    case "EADDRINUSE":
      return `${r.source}: host port ${where} is already in use: choose another host port, or leave it out for a random one`;
    case "EACCES":
      return `${r.source}: no permission to bind host port ${where}: ports below 1024 need root (or a lower net.ipv4.ip_unprivileged_port_start)`;
    case "EADDRNOTAVAIL":
      return `${r.source}: ${r.hostIp} is not an address of this host`;
    case "EAFNOSUPPORT":
      return `${r.source}: this host has no ${net.isIPv6(r.hostIp) ? "IPv6" : "IPv4"}`;
    default:
      return `${r.source}: cannot bind host port ${where}: ${e.message}`;
  }
}

/**
 * Checks that every fixed host port can be bound and chooses the random and ranged ones, by
 * binding each on its host address (port 0: the kernel picks) and closing them all at the
 * end, so no two requests get the same port. The ports are free again when this returns:
 * uno-vmm binds them right after (another process could take one in between; uno-vmm then
 * fails to start, naming the port).
 *
 * @throws PortUnavailableError
 */
export async function resolveHostPorts(requests: readonly PortRequest[]): Promise<PublishedPort[]> {
  const held: Held[] = [];
  const out: PublishedPort[] = [];
  try {
    // Fixed ports first, so that random and ranged choices cannot take them.
    const order = requests
      .map((r, i) => ({ r, i }))
      .sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i);
    const chosen = new Array<PublishedPort>(requests.length);
    for (const { r, i } of order) {
      let port = -1;
      let lastError: NodeJS.ErrnoException | undefined;
      for (let p = r.hostPortMin; p <= r.hostPortMax; p++) {
        const b = await tryBind(r.hostIp, p, r.protocol);
        if ("held" in b) {
          held.push(b.held);
          port = b.port;
          break;
        }
        lastError = b.error;
        // Only a busy port is worth trying the next one of a range for.
        if (b.error.code !== "EADDRINUSE") break;
      }
      if (port < 0) {
        const e = lastError!;
        if (r.hostPortMax > r.hostPortMin && e.code === "EADDRINUSE") {
          throw new PortUnavailableError(
            `${r.source}: every host port from ${r.hostPortMin} to ${r.hostPortMax} on ${r.hostIp} is in use: widen the range or leave it out for a random port`,
          );
        }
        throw new PortUnavailableError(bindProblem(r, r.hostPortMin, e));
      }
      chosen[i] = {
        hostIp: r.hostIp,
        hostPort: port,
        guestPort: r.guestPort,
        protocol: r.protocol,
      };
    }
    out.push(...chosen);
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
  return out;
}

function rank(r: PortRequest): number {
  if (r.hostPortMin === 0) return 2; // random
  return r.hostPortMin === r.hostPortMax ? 0 : 1; // fixed, then ranged
}

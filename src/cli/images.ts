/**
 * The image commands of the `uno` CLI, a thin layer over src/lib/image.ts and store.ts:
 *
 *   uno load [-i FILE]              docker save archive, OCI layout dir or tar (stdin without -i)
 *   uno pull [--platform P] [--insecure] REF     from a registry (registry-pull.ts)
 *   uno login [-u USER] [--password-stdin] REGISTRY, uno logout REGISTRY
 *   uno images [--format json]      uno image ls
 *   uno tag SOURCE TARGET
 *   uno rmi [-f] IMAGE...           uno image rm
 *   uno inspect IMAGE...            JSON
 *   uno save [-o FILE] IMAGE...     an OCI image layout tar (stdout without -o)
 *   uno image prune                 untagged images and unused blobs, roots, temporary files
 *   uno system df
 */
import * as fs from "node:fs";
import * as path from "node:path";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { findCredentials, removeCredentials, saveCredentials } from "../lib/auth.js";
import { UsageError } from "../lib/errors.js";
import {
  collectGarbage,
  diskUsage,
  displayTag,
  Image,
  inspectImage,
  listImages,
  pruneImages,
  removeImage,
  saveImages,
  shortId,
  tagImage,
} from "../lib/image.js";
import { formatSize, Store } from "../lib/store.js";
import { loadImages, type LoadOptions } from "../image/load.js";
import { parseImageRef, registryHost, DOCKER_DOMAIN } from "../lib/reference.js";
import { pullImage, type PullProgress } from "../lib/registry-pull.js";
import { RegistryClient } from "../lib/registry.js";

/** Left-aligned columns separated by three spaces. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map(
      (r) =>
        r
          .map((v, c) => v.padEnd(widths[c]!))
          .join("   ")
          .trimEnd() + "\n",
    )
    .join("");
}

function since(iso: string | undefined): string {
  if (!iso) return "N/A";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return "N/A";
  const [n, u] =
    s < 120
      ? [s, "seconds"]
      : s < 7200
        ? [s / 60, "minutes"]
        : s < 172800
          ? [s / 3600, "hours"]
          : [s / 86400, "days"];
  return `${Math.floor(n)} ${u} ago`;
}

function listAction(flags: { format: string; quiet?: boolean }): void {
  const rows = listImages(Store.open());
  if (flags.quiet) {
    for (const id of new Set(rows.map((r) => shortId(r.id)))) process.stdout.write(`${id}\n`);
  } else if (flags.format === "json") {
    const out = rows.map((r) => ({
      Repository: r.repository,
      Tag: r.tag,
      ID: r.id,
      Digest: r.digest,
      Created: r.created ?? null,
      Size: r.size,
    }));
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  } else if (flags.format === "table") {
    const lines = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]];
    for (const r of rows)
      lines.push([r.repository, r.tag, shortId(r.id), since(r.created), formatSize(r.size)]);
    process.stdout.write(table(lines));
  } else {
    throw new UsageError(`--format ${flags.format}: expected table or json`);
  }
}

async function pruneAction(): Promise<void> {
  const r = await pruneImages(Store.open());
  if (r.images.length > 0)
    process.stdout.write(`Deleted Images:\n${r.images.map((i) => `  ${i}\n`).join("")}`);
  process.stdout.write(
    `Removed ${r.blobs} blobs and ${r.erofs} root images\nTotal reclaimed space: ${formatSize(r.bytes)}\n`,
  );
}

async function rmiAction(refs: string[], flags: { force?: boolean }): Promise<void> {
  const store = Store.open();
  for (const ref of refs)
    for (const line of await removeImage(store, ref, flags.force ?? false))
      process.stdout.write(line + "\n");
}

/**
 * Load and pull both build each image's root before indexing it: an image uno cannot run is
 * refused, not stored; a root built before a later failure is collected again.
 */
async function storeWithRoots<T>(store: Store, fn: (opts: LoadOptions) => Promise<T>): Promise<T> {
  try {
    return await fn({
      prepare: async (im) => void (await Image.open(store, im.manifest).rootfs()),
    });
  } catch (err) {
    await collectGarbage(store).catch(() => undefined);
    throw err;
  }
}

const short = (digest: string): string => digest.replace(/^sha256:/, "").slice(0, 12);

/** Progress bars on a terminal. */
function barProgress(): PullProgress & { stop(): void } {
  const multi = new cliProgress.MultiBar(
    {
      format: "{id}: [{bar}] {value}/{total} bytes",
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    layers: (ls) => {
      for (const l of ls)
        bars.set(
          l.digest,
          multi.create(l.size, l.cached ? l.size : 0, {
            id: `${short(l.digest)}${l.cached ? " (already exists)" : ""}`,
          }),
        );
    },
    bytes: (d, n) => bars.get(d)?.update(n),
    done: (d) => bars.get(d)?.update(bars.get(d)!.getTotal()),
    stop: () => multi.stop(),
  };
}

/** One line per event when stdout is not a terminal (logs, CI). */
function lineProgress(): PullProgress & { stop(): void } {
  const out = (s: string): boolean => process.stdout.write(s + "\n");
  return {
    layers: (ls) => {
      for (const l of ls)
        out(
          `${short(l.digest)}: ${l.cached ? "already exists" : `downloading ${formatSize(l.size)}`}`,
        );
    },
    bytes: () => undefined,
    done: (d) => void out(`${short(d)}: done`),
    stop: () => undefined,
  };
}

async function pullAction(
  reference: string,
  flags: { platform: string; insecure?: boolean },
): Promise<void> {
  const ref = parseImageRef(reference);
  const store = Store.open();
  const progress = process.stdout.isTTY ? barProgress() : lineProgress();
  const credentials = findCredentials(ref.domain);
  process.stdout.write(`Pulling ${reference} from ${registryHost(ref.domain)}\n`);
  // Ctrl-C stops the pull through its signal, so the store is left as before (and downloads
  // kept to resume). Before the pull holds the store's lock it has written nothing: exit at
  // once. A second Ctrl-C is the default one (the next pull breaks the stale lock).
  const interrupt = new AbortController();
  const onSigint = (): void => {
    if (!store.locked) {
      process.stderr.write(`\nuno: pull of ${reference} interrupted; nothing was stored\n`);
      process.exit(130);
    }
    process.stderr.write("\nuno: interrupting the pull (Ctrl-C again to quit at once)\n");
    interrupt.abort();
  };
  process.once("SIGINT", onSigint);
  let r;
  try {
    r = await storeWithRoots(store, (o) =>
      pullImage(store, reference, {
        ...o,
        platform: flags.platform,
        insecure: flags.insecure ?? false,
        progress,
        signal: interrupt.signal,
        ...(credentials ? { credentials } : {}),
      }),
    );
  } finally {
    process.removeListener("SIGINT", onSigint);
    progress.stop();
  }
  process.stdout.write(`Digest: ${r.manifest}\nImage ID: ${r.config}\n`);
  for (const t of r.tags) process.stdout.write(`Pulled: ${displayTag(t)}\n`);
}

/** The registry domain `uno login HOST` means ("docker.io" when none given). */
function loginDomain(registry: string | undefined): string {
  if (registry === undefined) return DOCKER_DOMAIN;
  const host = registry.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return parseImageRef(`${host}/x`).domain;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

async function loginAction(
  registry: string | undefined,
  flags: { username?: string; passwordStdin?: boolean; insecure?: boolean },
): Promise<void> {
  if (!flags.passwordStdin || flags.username === undefined)
    throw new UsageError(
      "uno login needs --username USER and --password-stdin (the password on standard input, so it is not in your shell history)",
    );
  const password = await readStdin();
  if (password === "") throw new UsageError("uno login: the password on standard input is empty");
  const domain = loginDomain(registry);
  const credentials = { username: flags.username, password };
  await new RegistryClient(domain, "", {
    credentials,
    insecure: flags.insecure ?? false,
  }).ping();
  saveCredentials(domain, credentials);
  process.stdout.write(`Login Succeeded (credentials for ${domain} stored)\n`);
}

/** Registers the image commands on `program`. */
export function registerImageCommands(program: Command, setExit: (code: number) => void): void {
  program
    .command("load")
    .description(
      "load images from a docker save archive or an OCI image layout (directory or tar, optionally gzipped)",
    )
    .option("-i, --input <file>", "read from FILE instead of standard input")
    .action(async (flags: { input?: string }) => {
      if (flags.input === undefined && process.stdin.isTTY)
        throw new UsageError(
          "uno load reads an archive from standard input: redirect one (< FILE) or give -i FILE",
        );
      const store = Store.open();
      const images = await storeWithRoots(store, (o) =>
        loadImages(
          store,
          flags.input !== undefined ? { file: flags.input } : { stream: process.stdin },
          o,
        ),
      );
      for (const im of images) {
        if (im.tags.length === 0) process.stdout.write(`Loaded image ID: ${im.config}\n`);
        for (const t of im.tags) process.stdout.write(`Loaded image: ${displayTag(t)}\n`);
      }
      setExit(0);
    });

  program
    .command("pull")
    .description("pull an image from a registry (OCI distribution API; docker.io by default)")
    .argument("<reference>", "NAME[:TAG] or NAME@sha256:DIGEST, e.g. busybox, ghcr.io/o/app:1")
    .option("--platform <os/arch>", "the image to take from a multi-platform index", "linux/amd64")
    .option("--insecure", "use plain HTTP (always the case for loopback registries)")
    .action(pullAction);

  program
    .command("login")
    .description("store credentials for a registry (in the uno home, mode 0600)")
    .argument("[registry]", "host[:port] (default docker.io)")
    .option("-u, --username <user>", "user name")
    .option("--password-stdin", "read the password from standard input")
    .option("--insecure", "use plain HTTP (always the case for loopback registries)")
    .action(loginAction);

  program
    .command("logout")
    .description("forget the credentials uno stored for a registry")
    .argument("[registry]", "host[:port] (default docker.io)")
    .action((registry: string | undefined) => {
      const domain = loginDomain(registry);
      process.stdout.write(
        removeCredentials(domain)
          ? `Removed login credentials for ${domain}\n`
          : `Not logged in to ${domain}\n`,
      );
    });

  const images = (cmd: Command): Command =>
    cmd
      .description("list stored images")
      .option("--format <format>", "table or json", "table")
      .option("-q, --quiet", "only image IDs")
      .action((flags: { format: string; quiet?: boolean }) => listAction(flags));
  images(program.command("images"));

  program
    .command("tag")
    .description("give an image another name: uno tag SOURCE TARGET[:TAG]")
    .argument("<source>", "image (NAME[:TAG], ID)")
    .argument("<target>", "new NAME[:TAG]")
    .action(async (source: string, target: string) => tagImage(Store.open(), source, target));

  const rmi = (cmd: Command): Command =>
    cmd
      .description("remove images (a NAME:TAG only untags when the image has other tags)")
      .argument("<images...>", "NAME[:TAG], NAME@DIGEST or ID")
      .option("-f, --force", "remove an image by ID even when it has several tags")
      .action(rmiAction);
  rmi(program.command("rmi"));

  program
    .command("inspect")
    .description("show stored images as JSON")
    .argument("<images...>", "NAME[:TAG], NAME@DIGEST or ID")
    .action((refs: string[]) => {
      const store = Store.open();
      const out = refs.map((r) => inspectImage(Image.get(store, r)));
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    });

  program
    .command("save")
    .description(
      "write images as an OCI image layout tar (readable by uno load and skopeo's oci-archive:)",
    )
    .argument("<images...>", "NAME[:TAG], NAME@DIGEST or ID")
    .option("-o, --output <file>", "write to FILE instead of standard output")
    .action(async (refs: string[], flags: { output?: string }) => {
      const store = Store.open();
      for (const r of refs) Image.get(store, r); // every name checked before writing
      if (flags.output === undefined) {
        if (process.stdout.isTTY)
          throw new UsageError("refusing to write a tar to a terminal: give -o FILE or redirect");
        await saveImages(store, refs, process.stdout);
        return;
      }
      // Written beside FILE and renamed: an interrupted save leaves no half archive.
      const tmp = path.join(
        path.dirname(path.resolve(flags.output)),
        `.${path.basename(flags.output)}.${process.pid}.tmp`,
      );
      try {
        const out = fs.createWriteStream(tmp, { mode: 0o644 });
        await saveImages(store, refs, out);
        fs.renameSync(tmp, flags.output);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
    });

  const image = program.command("image").description("manage stored images");
  images(image.command("ls"));
  rmi(image.command("rm"));
  image
    .command("prune")
    .description(
      "remove untagged images and every blob, root image and temporary file no image uses",
    )
    .action(pruneAction);

  program
    .command("system")
    .description("uno's state")
    .command("df")
    .description("disk space used by the image store")
    .action(() => {
      const u = diskUsage(Store.open());
      process.stdout.write(
        table([
          ["TYPE", "TOTAL", "SIZE", "RECLAIMABLE"],
          ["Images", String(u.images), formatSize(u.blobBytes), formatSize(u.reclaimableBytes)],
          ["Root images (EROFS)", "", formatSize(u.erofsBytes), ""],
          ["Temporary files", "", formatSize(u.tmpBytes), formatSize(u.tmpBytes)],
        ]),
      );
    });
}

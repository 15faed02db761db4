/**
 * uno build [-t NAME[:TAG]]... [-f Dockerfile] [--build-arg K=V]... [--target STAGE]
 *           [--no-cache] [-q] CONTEXT
 *
 * A thin layer over src/build/builder.ts: step lines and RUN's output on stdout, warnings on
 * stderr; -q prints only the image ID.
 */
import type { Command } from "commander";
import { buildImage } from "../build/builder.js";
import { UsageError } from "../lib/errors.js";
import { Store } from "../lib/store.js";

interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  target?: string;
  cache?: boolean;
  quiet?: boolean;
  platform?: string;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** --build-arg K=V; a bare K takes the host's value, as docker does (and is skipped when unset). */
function buildArgs(list: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of list) {
    const eq = a.indexOf("=");
    const k = eq < 0 ? a : a.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw new UsageError(`--build-arg ${a}: expected NAME=VALUE`);
    const v = eq < 0 ? process.env[k] : a.slice(eq + 1);
    if (v !== undefined) m.set(k, v);
  }
  return m;
}

/** Registers `uno build` on `program`. */
export function registerBuildCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("build")
    .description("build an image from a Dockerfile (RUN steps run in uno micro-VMs)")
    .argument("<context>", "the build context directory (COPY and ADD read from it)")
    .option("-t, --tag <name>", "NAME[:TAG] for the image (repeatable)", collect)
    .option("-f, --file <dockerfile>", "the Dockerfile (default CONTEXT/Dockerfile)")
    .option("--build-arg <k=v>", "set a build-time variable declared by ARG (repeatable)", collect)
    .option("--target <stage>", "build up to this stage and tag it")
    .option("--no-cache", "run every step, using no cached layer")
    .option("--platform <os/arch>", "only linux/amd64")
    .option("-q, --quiet", "print only the image ID")
    .action(async (context: string, flags: BuildFlags) => {
      if (context === "-")
        throw new UsageError(
          "uno build - (a context on standard input) is not supported: give a directory",
        );
      if (flags.platform !== undefined && flags.platform !== "linux/amd64")
        throw new UsageError(`--platform ${flags.platform}: uno builds linux/amd64 images only`);
      const quiet = flags.quiet ?? false;
      const r = await buildImage(Store.open(), {
        context,
        ...(flags.file !== undefined ? { dockerfile: flags.file } : {}),
        ...(flags.target !== undefined ? { target: flags.target } : {}),
        tags: flags.tag ?? [],
        buildArgs: buildArgs(flags.buildArg ?? []),
        noCache: flags.cache === false,
        log: quiet ? () => undefined : (l) => void process.stdout.write(`${l}\n`),
        warn: (m) => void process.stderr.write(`uno: warning: ${m}\n`),
        runOutput: quiet ? "ignore" : "inherit",
      });
      if (quiet) process.stdout.write(`${r.id}\n`);
      setExit(0);
    });
}

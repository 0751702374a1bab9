/**
 * An exclusive lock on a run directory, held for the whole run: a lock file naming
 * the process (pid) and the host, created with O_EXCL. A second run on the same
 * directory is refused. A lock left by a process that is no longer running on this
 * host (a crash, `kill -9`) is taken over; a lock from another host is never taken
 * over, since its process cannot be checked from here. Whether a process runs is asked
 * of the kernel (signal 0), which needs the permission to run subprocesses; without
 * it, no lock is taken over. A pid reused by an unrelated process keeps the lock held
 * (the message says how to remove it): the safe side.
 * @module
 */
import process from "node:process";
import { Effect, Schema, type Scope } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { RunDirectoryError } from "./errors.ts";

/** The lock file's name inside a run directory. */
export const LOCK_FILE = "run.lock";

const LockSchema = Schema.Struct({
  pid: Schema.Int,
  host: Schema.String,
  /** When the lock was taken (ISO time, for people). */
  since: Schema.String,
});

/** Who holds a lock. */
export type LockOwner = typeof LockSchema.Type;

/** This machine's host name (permission to read it or /proc/sys/kernel/hostname; else `unknown-host`). */
export const hostName = (): string => {
  try {
    return Deno.hostname();
  } catch {
    for (const f of ["/proc/sys/kernel/hostname", "/etc/hostname"]) {
      try {
        const name = Deno.readTextFileSync(f).trim();
        if (name) return name;
      } catch {
        // try the next source
      }
    }
    return "unknown-host";
  }
};

/** Whether process `pid` of this host runs: true, false, or undefined when it cannot be told. */
export const isRunning = (pid: number): boolean | undefined => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true; // it runs, as another user
    return undefined; // no permission to ask
  }
};

/** True when the process that wrote `owner` has certainly exited (same host only). */
const isStale = (owner: LockOwner): boolean => owner.host === hostName() && isRunning(owner.pid) === false;

const me = (): LockOwner => ({ pid: Deno.pid, host: hostName(), since: new Date().toISOString() });

const sameOwner = (a: LockOwner, b: LockOwner) => a.pid === b.pid && a.host === b.host && a.since === b.since;

/**
 * Take the lock of run directory `dir` (which must exist) for the life of the scope;
 * it is released when the scope closes. Fails with one paragraph naming the holder
 * when another live process holds it.
 */
export const lockRunDirectory = (
  dir: string,
): Effect.Effect<void, RunDirectoryError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const file = path.join(dir, LOCK_FILE);
    const mine = me();
    const text = JSON.stringify(mine) + "\n";
    const ioError = (what: string) => (e: { message: string }) =>
      new RunDirectoryError({
        dir,
        detail: `${what} ${LOCK_FILE} failed (${e.message})`,
        fix: "Check the permissions of that directory.",
      });
    const create = fs.writeFileString(file, text, { flag: "wx" }).pipe(
      Effect.as(true),
      Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "AlreadyExists", () => Effect.succeed(false)),
      Effect.mapError(ioError("creating")),
    );
    // None: no lock file; Some(None): a lock file that cannot be read
    const readOwner = fs.readFileString(file).pipe(
      Effect.map(Schema.decodeUnknownOption(Schema.parseJson(LockSchema))),
      Effect.option,
    );
    for (let attempt = 0; attempt < 3; attempt++) {
      if (yield* create) {
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            // remove the lock only while it is still ours
            const owner = yield* readOwner;
            if (owner._tag === "Some" && owner.value._tag === "Some" && sameOwner(owner.value.value, mine)) {
              yield* fs.remove(file).pipe(Effect.ignore);
            }
          })
        );
        return;
      }
      const read = yield* readOwner;
      if (read._tag === "None") continue; // removed meanwhile: try again
      const owner = read.value;
      if (owner._tag === "None") {
        return yield* new RunDirectoryError({
          dir,
          detail: `holds a lock file ${LOCK_FILE} that scalpel cannot read`,
          fix: `If no scalpel run is using this directory, delete ${path.join(dir, LOCK_FILE)} and run again.`,
        });
      }
      if (!isStale(owner.value)) {
        const o = owner.value;
        return yield* new RunDirectoryError({
          dir,
          detail: `is in use by another scalpel run (process ${o.pid} on ${o.host}, since ${o.since})`,
          fix: o.host === hostName()
            ? "Wait for that run to finish, or stop it; then run this command again to resume."
            : `A lock from another host is never taken over: if that run is no longer going, delete ${
              path.join(dir, LOCK_FILE)
            } and run again.`,
        });
      }
      // a lock left by a process that exited: move it aside (only one taker wins the rename), check it is the
      // stale one we judged, and try to create ours again
      const aside = `${file}.stale-${Deno.pid}`;
      const moved = yield* fs.rename(file, aside).pipe(Effect.as(true), Effect.orElseSucceed(() => false));
      if (!moved) continue;
      const movedText = yield* fs.readFileString(aside).pipe(Effect.orElseSucceed(() => ""));
      const movedOwner = Schema.decodeUnknownOption(Schema.parseJson(LockSchema))(movedText);
      if (movedOwner._tag === "None" || !sameOwner(movedOwner.value, owner.value)) {
        // another process took the lock over meanwhile and we moved its lock: put it back and give way
        yield* fs.rename(aside, file).pipe(Effect.ignore);
        continue;
      }
      yield* fs.remove(aside).pipe(Effect.ignore);
    }
    return yield* new RunDirectoryError({
      dir,
      detail: `could not take the lock ${LOCK_FILE} (other processes keep taking it)`,
      fix: "Make sure only one scalpel run uses this directory.",
    });
  });

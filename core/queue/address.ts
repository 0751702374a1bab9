/**
 * The address of a queue's Redis: `redis://[user[:password]@]host[:port][/db]`,
 * `rediss://…` for TLS, or `env:NAME` to read it from an environment variable (keeps
 * a password out of shell history and of the process list). A password is never
 * printed or written: every message shows {@link QueueAddress.shown}.
 * @module
 */
import { QueueError } from "../errors.ts";

/** A parsed queue address. */
export interface QueueAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  /** For messages: the address without its password (`redis://user:***@host:6379/0`). */
  readonly shown: string;
  /** `host:port`, what Deno's `--allow-net` needs. */
  readonly netPermission: string;
}

/** The default Redis port. */
export const DEFAULT_REDIS_PORT = 6379;

const FIX = "Give an address like redis://host:6379, redis://user:password@host:6379/0, rediss://host:6380 " +
  "(TLS), or env:NAME to read it from the environment variable NAME.";

/** Parse `text` (see the module doc); `env` looks environment variables up. */
export const parseQueueAddress = (
  text: string,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): QueueAddress | QueueError => {
  let raw = text;
  let origin = "";
  if (text.startsWith("env:")) {
    const name = text.slice(4);
    const value = name === "" ? undefined : env(name);
    if (value === undefined || value === "") {
      return new QueueError({
        queue: text,
        detail: `the environment variable ${name || "(no name)"} is not set`,
        fix: `Set it to the queue's address (e.g. export ${name || "SCALPEL_QUEUE"}=redis://host:6379).`,
      });
    }
    raw = value;
    origin = ` (from ${text})`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return new QueueError({ queue: `${redactText(raw)}${origin}`, detail: "is not an address", fix: FIX });
  }
  const tls = url.protocol === "rediss:";
  const shownOf = (u: URL) => {
    const c = new URL(u.href);
    if (c.password !== "") c.password = "***";
    return c.href.replace(/\/$/, "");
  };
  if (url.protocol !== "redis:" && !tls) {
    return new QueueError({
      queue: `${shownOf(url)}${origin}`,
      detail: `has the scheme ${url.protocol.replace(/:$/, "")}, not redis or rediss`,
      fix: FIX,
    });
  }
  if (url.hostname === "") return new QueueError({ queue: shownOf(url), detail: "names no host", fix: FIX });
  const port = url.port === "" ? DEFAULT_REDIS_PORT : Number(url.port);
  const dbText = url.pathname.replace(/^\//, "");
  const db = dbText === "" ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) {
    return new QueueError({ queue: shownOf(url), detail: `has ${JSON.stringify(dbText)} as its database`, fix: FIX });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const username = decoded(url.username);
  const password = decoded(url.password);
  if (username === undefined || password === undefined) {
    return new QueueError({
      queue: shownOf(url),
      detail: `has a user name or password with a malformed %-escape`,
      fix: "Write each special character of the user name and password as its UTF-8 %-escape " +
        "(JavaScript's encodeURIComponent gives them), or pass the address with env:NAME.",
    });
  }
  return {
    host,
    port,
    db,
    tls,
    ...(username === "" ? {} : { username }),
    ...(password === "" ? {} : { password }),
    shown: shownOf(url),
    netPermission: `${url.hostname}:${port}`,
  };
};

/** `text` %-decoded, or undefined when an escape is malformed (`%aa` alone is not UTF-8). */
const decoded = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
};

/** `text` with anything that looks like a URL's password replaced by `***` (for echoing bad input). */
export const redactText = (text: string): string => text.replace(/(\/\/[^:@/\s]*:)[^@/\s]*@/g, "$1***@");

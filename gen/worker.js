// mirrorsteer edge for Cloudflare Workers (an ES module worker), written
// by `mirrorsteer gen` for the tree it sits in: do not edit, gen rewrites
// it. It answers
//   /mirrorlist?repo=baseos&release=9&arch=x86_64   the list in the repo's client format
//   /metalink?repo=baseos&release=9&arch=x86_64     the dnf metalink (rpm repositories)
// with the file edge/nginx.conf serves the same client: the first of the
// client's lists that gen wrote (AS<asn>-<country>, <country>, global;
// the IPv6 lists for an IPv6 client), the client located by
// request.cf.asn and .country and CF-Connecting-IP. Every other path is
// the tree's own file. Each answer carries the Cache-Control of its kind.
//
// The tree is read from the ASSETS binding, static assets uploaded with
// the worker:
//   npx wrangler deploy -c out/edge/wrangler-assets.toml --name <worker>
// or, without it, from the ORIGIN variable, the base URL of the tree on
// object storage or a web server:
//   npx wrangler deploy out/edge/cloudflare-worker.js --name <worker> \
//     --compatibility-date 2026-04-01 --var ORIGIN:https://tree.example.org/
// With ORIGIN, deploy this file again when gen changes it (a new
// repository, release or ASN): until then the worker answers from what
// it knows.
//
// Nothing from the request reaches a path: the repository, release and
// arch must be one of those gen wrote, and a list name one gen wrote, or
// the answer is 404.

const TREE = /*@TREE@*/ null;

const KEYS = new Set(TREE.keys);
const DIRS = new Map(TREE.dirs.map((d) => [dirKey(d.repo, d.release, d.arch), d]));
const ENDPOINTS = new Map(TREE.endpoints.map((e) => [e.path, e]));
const EXACT = new Map(Object.entries(TREE.cache.exact));

function dirKey(repo, release, arch) {
  return JSON.stringify([repo, release, arch]);
}

export default {
  async fetch(request, env) {
    const store = storeOf(env);
    if (store === null) {
      return text(500, "mirrorsteer: this worker has neither an ASSETS binding nor an ORIGIN variable; see the top of cloudflare-worker.js\n");
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "mirrorsteer: only GET and HEAD\n", { Allow: "GET, HEAD" });
    }
    const url = new URL(request.url);
    const endpoint = ENDPOINTS.get(url.pathname);
    try {
      if (endpoint !== undefined) {
        return await answer(request, url, endpoint, store);
      }
      return await passThrough(request, url, store);
    } catch (err) {
      return text(502, "mirrorsteer: the tree could not be read\n");
    }
  },
};

// storeOf returns how the tree is read, a function of a path (beginning
// with "/") and a RequestInit, or null when the worker is not configured.
function storeOf(env) {
  if (env.ASSETS !== undefined) {
    return (path, init) => env.ASSETS.fetch(new Request(new URL(path, "https://assets.invalid"), init));
  }
  if (typeof env.ORIGIN === "string" && /^https?:\/\//.test(env.ORIGIN)) {
    const base = new URL(env.ORIGIN);
    const prefix = base.pathname.replace(/\/+$/, "");
    return (path, init) => {
      const u = new URL(base);
      // Set as a path, so it can name no other host; path has no dot
      // segments (the URL parser removed them, or gen wrote it).
      u.pathname = prefix + path;
      u.search = "";
      return fetch(u, init);
    };
  }
  return null;
}

// forwarded is what a read of the tree keeps of the client's request:
// its method and what lets a cache revalidate or resume.
function forwarded(request) {
  const headers = new Headers();
  for (const name of ["If-None-Match", "If-Modified-Since", "Range"]) {
    const v = request.headers.get(name);
    if (v !== null) headers.set(name, v);
  }
  return { method: request.method, headers };
}

// answer serves /mirrorlist and /metalink: the first of the client's
// files that the tree has.
async function answer(request, url, endpoint, store) {
  const q = url.search.slice(1);
  const dir = DIRS.get(dirKey(arg(q, "repo"), arg(q, "release"), arg(q, "arch")));
  const top = dir === undefined ? null : dir[endpoint.dir];
  if (typeof top !== "string") {
    return text(404, "mirrorsteer: no such repository, release and arch here (index.json lists them)\n");
  }
  const vars = facts(request);
  vars.dir = "/" + top;
  vars.family = family(request);
  vars.ext = endpoint.ext;
  // A plain request: a list is never answered 304 or in part.
  const plain = { method: "GET" };
  for (let i = 0; i < TREE.names.length; i++) {
    const name = fill(TREE.names[i], vars);
    if (name === null || !KEYS.has(name)) continue;
    const path = fill(TREE.tries[i], vars);
    const r = await store(path, plain);
    if (r.status === 404) continue; // the tree is newer than this worker
    if (!r.ok) {
      return text(502, "mirrorsteer: the tree answered " + r.status + "\n");
    }
    const headers = {
      "Content-Type": endpoint.type,
      "Cache-Control": TREE.cache.answer,
      "X-Mirrorsteer-File": path,
    };
    return new Response(request.method === "HEAD" ? null : r.body, { status: 200, headers });
  }
  return text(404, "mirrorsteer: this tree has no such list\n");
}

// fill spells one of layout's templates: its even parts are text, its
// odd parts the names of vars. It returns null when one of those is not
// known (not a string): a key the client cannot have.
function fill(parts, vars) {
  let s = "";
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) {
      s += parts[i];
      continue;
    }
    const v = Object.hasOwn(vars, parts[i]) ? vars[parts[i]] : null;
    if (typeof v !== "string") return null;
    s += v;
  }
  return s;
}

// facts is what Cloudflare knows of the client, under the names gen's
// templates use; null where it knows nothing. Each is checked by being
// part of a key gen wrote, never alone. continent and region are for
// kinds of key that use them.
function facts(request) {
  const cf = request.cf || {};
  const str = (v) => (typeof v === "string" && v !== "" ? v : null);
  return {
    asn: Number.isInteger(cf.asn) && cf.asn > 0 ? String(cf.asn) : null,
    country: str(cf.country),
    continent: str(cf.continent),
    region: str(cf.regionCode),
  };
}

// family returns the list prefix of the client's address family. With
// Cloudflare's pseudo IPv4, CF-Connecting-IPv6 holds an IPv6 client's
// real address.
function family(request) {
  const ip = request.headers.get("CF-Connecting-IPv6") || request.headers.get("CF-Connecting-IP") || "";
  return ip.includes(":") ? TREE.families.ipv6 : TREE.families.ipv4;
}

// arg returns the query's value of the parameter name as nginx's
// $arg_name does, so both edges read a query alike: the first name=value
// whose name matches without regard to case, the value as sent (not
// percent-decoded).
function arg(query, name) {
  for (const part of query.split("&")) {
    const eq = part.indexOf("=");
    if (eq >= 0 && part.slice(0, eq).toLowerCase() === name) return part.slice(eq + 1);
  }
  return "";
}

// passThrough serves a file of the tree as it is, with the Cache-Control
// of its kind.
async function passThrough(request, url, store) {
  const r = await store(url.pathname, forwarded(request));
  if (r.status >= 400) return r;
  const headers = new Headers(r.headers);
  headers.set("Cache-Control", cacheControl(url.pathname));
  return new Response(r.body, { status: r.status, statusText: r.statusText, headers });
}

// cacheControl returns the Cache-Control of the file at path (as the
// request spelled it), by the rules gen wrote into edge/nginx.conf too.
function cacheControl(path) {
  let p = path;
  try {
    p = decodeURIComponent(path);
  } catch {
    // Not valid percent-encoding: no file of the tree has that name.
  }
  const exact = EXACT.get(p);
  if (exact !== undefined) return exact;
  for (const { prefix, value } of TREE.cache.prefixes) {
    if (p.startsWith(prefix)) return value;
  }
  return TREE.cache.default;
}

function text(status, body, extra = {}) {
  return new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", ...extra },
  });
}

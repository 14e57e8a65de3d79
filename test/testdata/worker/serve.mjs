// Runs the worker gen wrote in workerd, Cloudflare's runtime, through
// miniflare, configured as the generated edge/wrangler-assets.toml says, for the
// Go tests (test/clients_worker_test.go).
//
//   node serve.mjs OUT/edge/wrangler-assets.toml ORIGIN_URL
//
// Two workers run in one workerd: "assets", the tree as its static
// assets (wrangler-assets.toml's [assets]), and "origin", the same script reading
// the tree from ORIGIN_URL. It prints "listening http://127.0.0.1:PORT"
// and then passes each request it gets there to one of them:
//   X-Test-Worker: assets | origin   which worker
//   X-Test-Cf: {"country": "DE", ...}   the request's cf properties
// Every other header goes to the worker as sent (CF-Connecting-IP, say);
// the worker's answer comes back as it is. It exits when its standard
// input closes.
import { Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
import http from "node:http";
import path from "node:path";

const [configPath, origin] = process.argv.slice(2);
const major = Number(process.versions.node.split(".")[0]);
if (major < 20) {
  console.error(`serve.mjs: Node.js ${process.versions.node} is too old for wrangler 4.86 and miniflare 4.20260426 (20.3 or later)`);
  process.exit(1);
}
if (!configPath || !origin) {
  console.error("usage: node serve.mjs OUT/edge/wrangler-assets.toml ORIGIN_URL");
  process.exit(2);
}
const config = unstable_readConfig({ config: configPath });
if (!config.assets?.directory || !config.main) {
  console.error(`${configPath}: no main or [assets] directory`);
  process.exit(1);
}
const script = {
  modules: true,
  scriptPath: config.main,
  // Module names are paths below this: the worker is one module.
  modulesRoot: path.dirname(config.main),
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags,
};
const mf = new Miniflare({
  workers: [
    {
      ...script,
      name: "assets",
      routes: ["assets.test/*"],
      assets: {
        directory: path.resolve(path.dirname(config.configPath), config.assets.directory),
        binding: config.assets.binding,
        routerConfig: {
          has_user_worker: true,
          invoke_user_worker_ahead_of_assets: config.assets.run_worker_first === true,
        },
      },
    },
    { ...script, name: "origin", routes: ["origin.test/*"], bindings: { ORIGIN: origin } },
  ],
});
await mf.ready;

const server = http.createServer(async (req, res) => {
  try {
    const worker = req.headers["x-test-worker"];
    if (worker !== "assets" && worker !== "origin") {
      throw new Error(`X-Test-Worker ${JSON.stringify(worker)}: want assets or origin`);
    }
    const cf = JSON.parse(req.headers["x-test-cf"] || "{}");
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (!name.startsWith("x-test-") && name !== "host" && name !== "connection") {
        headers.set(name, value);
      }
    }
    const r = await mf.dispatchFetch(`http://${worker}.test${req.url}`, {
      method: req.method,
      headers,
      cf,
      redirect: "manual",
    });
    const body = Buffer.from(await r.arrayBuffer());
    const out = {};
    r.headers.forEach((value, name) => {
      out[name] = value;
    });
    delete out["content-length"];
    delete out["transfer-encoding"];
    res.writeHead(r.status, out);
    res.end(body);
  } catch (err) {
    res.writeHead(599, { "Content-Type": "text/plain" });
    res.end(`serve.mjs: ${err.stack || err}\n`);
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});

process.stdin.resume();
process.stdin.on("end", async () => {
  server.close();
  await mf.dispose();
  process.exit(0);
});

# workerd config for herald: `deno task start:workerd` builds
# build/herald.mjs (runtimes/build.ts) and runs
#   workerd serve runtimes/workerd/herald.capnp --socket-addr http=HOST:PORT
# with HERALD_ENV set to a JSON object of herald's variables.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "herald", worker = .heraldWorker)],
  sockets = [(name = "http", address = "127.0.0.1:8000", http = (), service = "herald")],
);

const heraldWorker :Workerd.Worker = (
  compatibilityDate = "2026-11-17",
  modules = [(name = "herald.mjs", esModule = embed "build/herald.mjs")],
  durableObjectNamespaces = [(className = "HeraldHub", uniqueKey = "herald-hub")],
  # The hub keeps nothing in storage: its history is in memory.
  durableObjectStorage = (inMemory = void),
  bindings = [
    (name = "HUB", durableObjectNamespace = "HeraldHub"),
    (name = "HERALD_ENV", fromEnvironment = "HERALD_ENV"),
    # Set by runtimes/start.ts: lets it ask the hub to drain on SIGTERM.
    (name = "HERALD_DRAIN_TOKEN", fromEnvironment = "HERALD_DRAIN_TOKEN"),
  ],
);

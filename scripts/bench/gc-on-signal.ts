// Preloaded into the benchmark's server: SIGUSR2 runs a full garbage collection, so the idle-viewer
// figure can be read both as plain RSS and as memory still held after a collection.
process.on("SIGUSR2", () => Bun.gc(true));

import net from 'node:net';

export interface CutProxy {
  /** The target's URL with the proxy's host and port. */
  url: string;
  /**
   * Cuts every client off for good the moment one sends `bytes`, before they reach the
   * target: open connections are destroyed, new ones too. Resolves once cut.
   */
  cutOn(bytes: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a server (Redis), so that a process can lose it at an exact point
 * of what it does (the first command holding some bytes) rather than at a moment in time.
 */
export async function startCutProxy(targetUrl: string): Promise<CutProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let trigger: { bytes: string; done: () => void } | undefined;
  let cut = false;
  const cutAll = () => {
    cut = true;
    for (const socket of sockets) socket.destroy();
    trigger?.done();
  };
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    // The last bytes of the previous chunk, so that a match split across two chunks is seen.
    let tail = '';
    client.on('data', (chunk: Buffer) => {
      if (cut) return;
      const text = tail + chunk.toString('latin1');
      if (trigger && text.includes(trigger.bytes)) return cutAll();
      if (trigger) tail = text.slice(-trigger.bytes.length);
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    cutOn: (bytes) => new Promise<void>((done) => (trigger = { bytes, done })),
    async close() {
      cutAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Preloaded into the Portkey gateway (`node --import bench/lib/portkey-stream-fix.mjs …`)
 * so that its streaming path works at all with the @hono/node-server it resolves here.
 *
 * @portkey-ai/gateway 1.15.2 wraps a streamed upstream answer as `new Response(stream,
 * upstreamResponse)` and then appends its x-portkey-* headers. @hono/node-server > 1.14.2
 * replaces the global Response with a lightweight one that keeps the upstream Response's
 * own Headers, whose guard is "immutable", so every `stream: true` request answers
 * 500 {"status":"failure","message":"Something went wrong"} (TypeError: immutable in
 * updateHeaders; Portkey-AI/gateway issues #1389 and #1550).
 *
 * The fix here touches only event-stream answers: fetch's Response is copied into a
 * native Response with mutable headers (same status, headers and body stream, nothing
 * read or buffered). JSON answers are left exactly as Portkey receives them, so the
 * non-streaming numbers are Portkey as shipped. BENCH_PORTKEY_SHIM=0 runs it without.
 */
const NativeResponse = globalThis.Response;
const nativeFetch = globalThis.fetch;

globalThis.fetch = async function fetchWithMutableStreamHeaders(input, init) {
  const response = await nativeFetch(input, init);
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) return response;
  return new NativeResponse(response.body, { status: response.status, statusText: response.statusText, headers: new Headers(response.headers) });
};

import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError, type Conversation } from './api.js';
import { Composer } from './composer.js';
import { MessageList } from './messages.js';
import { ConnectForm, ConversationList } from './sidebar.js';
import { TasksPanel } from './tasks-panel.js';
import { fromStored, withToolResult, type MessageView } from './turns.js';

const KEY_STORAGE = 'playground.apiKey';
let nextKey = 0;
const localKey = () => `local-${++nextKey}`;
const isAbort = (error: unknown) => error instanceof DOMException && error.name === 'AbortError';

/** An error as the page tells it: the API's message, and for a 429 how long to wait. */
function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const wait = error.retryAfterSeconds !== undefined ? ` Try again in ${error.retryAfterSeconds} s.` : '';
    return `${error.message}${wait} (${error.status} ${error.code})`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function App() {
  const [key, setKey] = useState(() => sessionStorage.getItem(KEY_STORAGE) ?? '');
  const [connected, setConnected] = useState(false);
  const api = useMemo(() => new Api(key), [key]);
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [currentId, setCurrentId] = useState<string | null>(null);
  const [messages, setMessages] = useState<MessageView[]>([]);
  const [agent, setAgent] = useState(false);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [tasksVersion, setTasksVersion] = useState(0);
  const controller = useRef<AbortController | null>(null);
  /** The running stream's id (from its first event): Stop cancels it on the server. */
  const streamId = useRef<string | null>(null);

  const report = useCallback((e: unknown) => {
    if (!isAbort(e)) setError(describe(e));
  }, []);

  const loadConversations = async (client: Api) => {
    const page = await client.conversations();
    setConversations(page.data);
    setNextCursor(page.next_cursor);
  };

  const connect = async (candidate: string) => {
    const client = new Api(candidate);
    try {
      await loadConversations(client);
      sessionStorage.setItem(KEY_STORAGE, candidate);
      setKey(candidate);
      setConnected(true);
      setError(null);
    } catch (e) {
      sessionStorage.removeItem(KEY_STORAGE);
      setConnected(false);
      report(e);
    }
  };

  useEffect(() => {
    performance.mark('playground-ready');
    if (key) void connect(key);
  }, []);

  const loadMore = async () => {
    try {
      const page = await api.conversations(nextCursor);
      setConversations((list) => [...list, ...page.data.filter((c) => !list.some((o) => o.id === c.id))]);
      setNextCursor(page.next_cursor);
    } catch (e) {
      report(e);
    }
  };

  const open = async (id: string) => {
    controller.current?.abort();
    try {
      const { data } = await api.messages(id);
      setCurrentId(id);
      setMessages(fromStored(data));
      setError(null);
    } catch (e) {
      report(e);
    }
  };

  const startNew = () => {
    controller.current?.abort();
    setCurrentId(null);
    setMessages([]);
  };

  const send = async (text: string) => {
    const abort = new AbortController();
    controller.current = abort;
    setStreaming(true);
    setError(null);
    const replyKey = localKey();
    setMessages((list) => [
      ...list,
      { key: localKey(), role: 'user', content: text, status: 'complete', toolCalls: [] },
      { key: replyKey, role: 'assistant', content: '', status: 'streaming', toolCalls: [] },
    ]);
    const update = (change: (view: MessageView) => MessageView) =>
      setMessages((list) => list.map((view) => (view.key === replyKey ? change(view) : view)));
    let ended = false;
    try {
      const events = api.stream(agent ? '/agent/stream' : '/chat/stream', { message: text, ...(currentId && { conversation_id: currentId }) }, abort.signal);
      for await (const event of events) {
        switch (event.type) {
          case 'start':
            setCurrentId(event.conversationId);
            streamId.current = event.streamId ?? null;
            break;
          case 'reconnecting':
            update((v) => ({ ...v, note: `The connection dropped; resuming (attempt ${event.attempt})…` }));
            break;
          case 'resumed':
            update((v) => ({ ...v, note: 'Resumed after a dropped connection; nothing was lost.' }));
            break;
          case 'dropped':
            ended = true;
            update((v) => ({ ...v, status: 'incomplete', note: 'The connection dropped and the stream could not be resumed.' }));
            break;
          case 'content':
            update((v) => ({ ...v, content: v.content + event.content }));
            break;
          case 'tool_call':
            update((v) => ({ ...v, toolCalls: [...v.toolCalls, { name: event.name, arguments: event.arguments }] }));
            break;
          case 'tool_result':
            update((v) => withToolResult(v, event.name, event.result));
            break;
          case 'usage':
            update((v) => ({ ...v, usage: event.usage }));
            break;
          case 'error':
            ended = true;
            update((v) => ({ ...v, status: 'incomplete', note: `The reply failed: ${event.message}` }));
            setError(`${event.message} (${event.code})`);
            break;
          case 'done':
            ended = true;
            update((v) => ({ ...v, status: 'complete' }));
            break;
        }
      }
      if (!ended) update((v) => ({ ...v, status: 'incomplete', note: 'The stream ended early.' }));
    } catch (e) {
      if (isAbort(e)) update((v) => ({ ...v, status: 'incomplete', note: 'Stopped; the reply is stored marked incomplete.' }));
      else {
        update((v) => ({ ...v, status: 'incomplete', note: describe(e) }));
        report(e);
      }
    } finally {
      if (controller.current === abort) {
        controller.current = null;
        streamId.current = null;
      }
      setStreaming(false);
      if (agent) setTasksVersion((n) => n + 1);
      loadConversations(api).catch(report);
    }
  };

  /** Stop: cancel the stream on the server (a resumable one would otherwise outlive the tab a while) and hang up. */
  const stop = () => {
    if (streamId.current) api.cancelStream(streamId.current).catch(report);
    controller.current?.abort();
  };

  return (
    <div class="layout">
      <header class="top">
        <h1>Playground</h1>
        <ConnectForm initialKey={key} connected={connected} onConnect={(k) => void connect(k)} />
      </header>
      <div class="error" role="alert">
        {error && (
          <>
            <span>{error}</span>
            <button type="button" onClick={() => setError(null)}>
              Dismiss
            </button>
          </>
        )}
      </div>
      {connected ? (
        <main class="workspace">
          <ConversationList
            conversations={conversations}
            currentId={currentId}
            hasMore={nextCursor !== null}
            onOpen={(id) => void open(id)}
            onNew={startNew}
            onMore={() => void loadMore()}
          />
          <section class="chat" aria-label="Chat">
            <MessageList messages={messages} />
            <Composer
              streaming={streaming}
              agent={agent}
              onAgentChange={setAgent}
              onSend={(text) => void send(text)}
              onStop={stop}
            />
          </section>
          <TasksPanel api={api} version={tasksVersion} onError={report} />
        </main>
      ) : (
        <main class="intro">
          <p>
            Enter an API key (from <code>npm run admin -- create-user NAME</code>) and connect. The key stays in this tab
            (sessionStorage) and is sent only to this server.
          </p>
        </main>
      )}
    </div>
  );
}

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { MessageView, ToolCallView } from './turns.js';

const json = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));

function ToolCall({ call }: { call: ToolCallView }) {
  return (
    <div class="tool-call" role="group" aria-label={`Tool call ${call.name}`}>
      <div class="tool-name">
        Tool call <code>{call.name}</code>
      </div>
      <pre class="tool-arguments">{json(call.arguments)}</pre>
      {call.result === undefined ? (
        <div class="tool-pending">running…</div>
      ) : (
        <>
          <div class="tool-label">Result</div>
          <pre class="tool-result">{json(call.result)}</pre>
        </>
      )}
    </div>
  );
}

/**
 * The Markdown renderer (marked + DOMPurify, two thirds of the code) is a chunk of its own,
 * fetched after the first render, so the page is usable before it arrives.
 */
let renderMarkdown: ((text: string) => string) | undefined;
const markdownLoaded = import('./markdown.js').then(
  (module) => {
    renderMarkdown = module.renderMarkdown;
    return true;
  },
  // Not loaded (the network failed): model output stays plain text, which is safe too.
  () => false,
);

/** Model output: sanitised Markdown (see markdown.ts), re-rendered as the text grows; plain text until the renderer is here. */
function Markdown({ text }: { text: string }) {
  const [ready, setReady] = useState(renderMarkdown !== undefined);
  useEffect(() => {
    if (!ready) void markdownLoaded.then(setReady);
  }, [ready]);
  const html = useMemo(() => (ready ? renderMarkdown!(text) : undefined), [text, ready]);
  if (html === undefined) return <p class="text">{text}</p>;
  return <div class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}

function Message({ view }: { view: MessageView }) {
  const who = view.role === 'user' ? 'You' : 'Assistant';
  return (
    <article class={`message ${view.role}`} aria-label={who} aria-busy={view.status === 'streaming'}>
      <header>
        <span class="who">{who}</span>
        {view.status === 'incomplete' && <span class="badge">incomplete</span>}
        {view.status === 'streaming' && <span class="badge live">streaming</span>}
      </header>
      {view.toolCalls.map((call, i) => (
        <ToolCall key={i} call={call} />
      ))}
      {view.role === 'user' ? <p class="text">{view.content}</p> : view.content && <Markdown text={view.content} />}
      {view.note && <p class="note">{view.note}</p>}
      {view.usage ? (
        <p class="usage">
          Tokens: {view.usage.prompt_tokens} prompt · {view.usage.completion_tokens} completion · {view.usage.total_tokens} total
        </p>
      ) : (
        view.tokens !== undefined && view.tokens > 0 && <p class="usage">Tokens: {view.tokens}</p>
      )}
    </article>
  );
}

export function MessageList({ messages }: { messages: MessageView[] }) {
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => end.current?.scrollIntoView({ block: 'end' }), [messages]);
  return (
    <section class="messages" role="log" aria-label="Messages">
      {messages.length === 0 && <p class="empty">No messages yet. Write one below.</p>}
      {messages.map((view) => (
        <Message key={view.key} view={view} />
      ))}
      <div ref={end} />
    </section>
  );
}

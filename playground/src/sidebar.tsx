import { useState } from 'preact/hooks';
import type { Conversation } from './api.js';

export function ConnectForm({ initialKey, connected, onConnect }: { initialKey: string; connected: boolean; onConnect(key: string): void }) {
  const [key, setKey] = useState(initialKey);
  return (
    <form
      class="connect"
      onSubmit={(e) => {
        e.preventDefault();
        if (key.trim()) onConnect(key.trim());
      }}
    >
      <label class="field">
        <span>API key</span>
        <input type="password" autocomplete="off" spellcheck={false} value={key} onInput={(e) => setKey(e.currentTarget.value)} />
      </label>
      <button type="submit">Connect</button>
      <span class="status" role="status">
        {connected ? 'Connected' : 'Not connected'}
      </span>
    </form>
  );
}

interface ListProps {
  conversations: Conversation[];
  currentId: string | null;
  hasMore: boolean;
  onOpen(id: string): void;
  onNew(): void;
  onMore(): void;
}

/** Your conversations, newest first, a page at a time. */
export function ConversationList({ conversations, currentId, hasMore, onOpen, onNew, onMore }: ListProps) {
  return (
    <nav class="conversations" aria-label="Conversation history">
      <button type="button" onClick={onNew}>
        New conversation
      </button>
      <ul role="list" aria-label="Conversations">
        {conversations.map((c) => (
          <li key={c.id}>
            <button type="button" aria-current={c.id === currentId ? 'true' : undefined} onClick={() => onOpen(c.id)}>
              <span class="title">{c.title ?? 'Untitled'}</span>
              <time dateTime={c.updated_at}>{new Date(c.updated_at).toLocaleString()}</time>
            </button>
          </li>
        ))}
      </ul>
      {conversations.length === 0 && <p class="empty">No conversations yet.</p>}
      {hasMore && (
        <button type="button" onClick={onMore}>
          Load more conversations
        </button>
      )}
    </nav>
  );
}

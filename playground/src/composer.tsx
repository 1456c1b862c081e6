import { useState } from 'preact/hooks';

interface Props {
  streaming: boolean;
  agent: boolean;
  onAgentChange(on: boolean): void;
  onSend(text: string): void;
  onStop(): void;
}

/** The message field, Send and Stop, and the Agent switch. Enter sends; Shift+Enter is a new line. */
export function Composer({ streaming, agent, onAgentChange, onSend, onStop }: Props) {
  const [text, setText] = useState('');
  const submit = (event: Event) => {
    event.preventDefault();
    if (streaming || !text.trim()) return;
    onSend(text);
    setText('');
  };
  return (
    <form class="composer" onSubmit={submit}>
      <label class="field">
        <span>Message</span>
        <textarea
          rows={3}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submit(e);
          }}
        />
      </label>
      <div class="actions">
        <button
          type="button"
          role="switch"
          aria-checked={agent}
          class="switch"
          disabled={streaming}
          onClick={() => onAgentChange(!agent)}
        >
          <span class="track" aria-hidden="true">
            <span class="thumb" />
          </span>
          Agent
        </button>
        <button type="submit" disabled={streaming || !text.trim()}>
          Send
        </button>
        <button type="button" disabled={!streaming} onClick={onStop}>
          Stop
        </button>
      </div>
    </form>
  );
}

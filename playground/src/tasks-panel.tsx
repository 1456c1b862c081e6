import { useEffect, useState } from 'preact/hooks';
import type { Api, SearchResult, Task } from './api.js';

interface Props {
  api: Api;
  /** Changes when tasks may have changed elsewhere (an agent turn): the list reloads. */
  version: number;
  onError(error: unknown): void;
}

/** Your tasks (list, create, complete, delete) and a semantic search over them. */
export function TasksPanel({ api, version, onError }: Props) {
  const [tasks, setTasks] = useState<Task[]>([]);
  const [title, setTitle] = useState('');
  const [priority, setPriority] = useState<Task['priority']>('medium');
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<SearchResult[] | null>(null);

  const reload = () =>
    api.tasks().then(
      (page) => setTasks(page.data),
      (error) => onError(error),
    );
  useEffect(() => void reload(), [api, version]);

  const act = async (work: () => Promise<unknown>) => {
    try {
      await work();
      await reload();
    } catch (error) {
      onError(error);
    }
  };

  return (
    <aside class="tasks" aria-label="Tasks panel">
      <h2>Tasks</h2>
      <form
        class="task-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!title.trim()) return;
          void act(() => api.createTask(title.trim(), priority)).then(() => setTitle(''));
        }}
      >
        <label class="field">
          <span>Task title</span>
          <input value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Priority</span>
          <select value={priority} onChange={(e) => setPriority(e.currentTarget.value as Task['priority'])}>
            <option value="low">low</option>
            <option value="medium">medium</option>
            <option value="high">high</option>
          </select>
        </label>
        <button type="submit">Add task</button>
      </form>
      <ul role="list" aria-label="Tasks">
        {tasks.map((task) => (
          <li key={task.id} class={task.status}>
            <label>
              <input
                type="checkbox"
                checked={task.status === 'completed'}
                onChange={(e) => void act(() => api.updateTask(task.id, { status: e.currentTarget.checked ? 'completed' : 'pending' }))}
              />
              <span class="title">{task.title}</span>
            </label>
            <span class={`priority ${task.priority}`}>{task.priority}</span>
            <button type="button" aria-label={`Delete task ${task.title}`} onClick={() => void act(() => api.deleteTask(task.id))}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      {tasks.length === 0 && <p class="empty">No tasks yet.</p>}

      <h2>Search tasks</h2>
      <form
        class="search-form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          if (!query.trim()) return;
          api.search(query.trim()).then(
            (answer) => setResults(answer.results),
            (error) => onError(error),
          );
        }}
      >
        <label class="field">
          <span>Search tasks</span>
          <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        <button type="submit">Search</button>
      </form>
      {results && (
        <ol aria-label="Search results">
          {results.map((r) => (
            <li key={r.id}>
              <span class="title">{r.title}</span> <span class="similarity">{r.similarity.toFixed(2)}</span>
            </li>
          ))}
          {results.length === 0 && <li class="empty">No matching tasks.</li>}
        </ol>
      )}
    </aside>
  );
}

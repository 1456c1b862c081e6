import DOMPurify from 'dompurify';
import { Marked } from 'marked';

/**
 * Model output as Markdown, made safe: marked turns it into HTML (raw HTML in it included,
 * as Markdown allows), then DOMPurify keeps only inert markup — no script, no event handler,
 * no javascript: or other non-web URL, no style (the page's CSP refuses inline styles). The
 * Content-Security-Policy is the second wall; this one must hold by itself.
 */
const marked = new Marked({ gfm: true, breaks: true, async: false });

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

export function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'],
    FORBID_ATTR: ['style'],
    ADD_ATTR: ['target'],
  });
}

import { useState } from 'preact/hooks';

/**
 * Copies `text` to the clipboard and says so (politely, to screen readers too). Where
 * the Clipboard API is unavailable (a plain-HTTP origin other than localhost), it says
 * to select the text instead.
 */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [status, setStatus] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setStatus('Copied.');
    } catch {
      setStatus('Copying is not available here: select the text and copy it.');
    }
  };
  return (
    <span class="copy">
      <button type="button" class="button-secondary" onClick={copy}>
        {label}
      </button>
      <span role="status" class="copy-status">
        {status}
      </span>
    </span>
  );
}

import { useState } from 'preact/hooks';

export interface RequiredText {
  value: string;
  setValue: (value: string) => void;
  /** The message to show at the field: ours when it was sent empty, else the API's refusal (if any). */
  error: (fromApi: string | undefined) => string | undefined;
  /** On submit: the trimmed text, or null (and the field marked) when there is none, so nothing is sent. */
  take: () => string | null;
}

/** A free-text field the API requires (a reason, a known cause): checked before sending, with a message that says why it is needed. */
export function useRequiredText(missingMessage: string): RequiredText {
  const [value, setValue] = useState('');
  const [missing, setMissing] = useState(false);
  return {
    value,
    setValue,
    error: (fromApi) => (missing ? missingMessage : fromApi),
    take: () => {
      const text = value.trim();
      setMissing(text === '');
      return text || null;
    },
  };
}

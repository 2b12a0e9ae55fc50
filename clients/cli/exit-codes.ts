/** Exit codes shared by every `portcullis` command (documented in `--help` and the README). */
export const EXIT = { ok: 0, failure: 1, invalidConfig: 2, notGranted: 3, refused: 4 } as const;

// What the page shows for a failed command. Tauri commands fail with `{code, detail}` (the
// app's CommandError); the page's own code can still throw an Error or a string.

/** The error a Tauri command rejects with. */
export interface CommandError {
  code: string;
  detail: string;
}

function isCommandError(e: unknown): e is CommandError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as Record<string, unknown>).code === "string" &&
    typeof (e as Record<string, unknown>).detail === "string"
  );
}

/** The sentence to show the user for any rejection. */
export function errorText(e: unknown): string {
  if (isCommandError(e)) return e.detail;
  if (e instanceof Error) return e.message;
  if (typeof e === "string") return e;
  if (e === undefined || e === null) return "unknown error";
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

/** The command error's stable code (`exo_unreachable`, `busy`, …), if it is one. */
export function errorCode(e: unknown): string | undefined {
  return isCommandError(e) ? e.code : undefined;
}

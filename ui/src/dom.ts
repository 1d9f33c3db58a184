// The page's elements by id, for main.ts, porten.ts and the Settings window alike.

/** The element with this id; a missing one is a defect in index.html or settings.html, said loudly. */
export const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

// What the page must never say at once (issue #15's list of contradictions), read from the DOM
// as rendered. The page tests run it after every Snapshot they send; an empty list is a
// consistent page.

const shown = (el: Element | null): el is HTMLElement => {
  if (!(el instanceof HTMLElement)) return false;
  for (let e: HTMLElement | null = el; e; e = e.parentElement) if (e.hidden) return false;
  return true;
};

export function contradictions(doc: Document): string[] {
  const found: string[] = [];
  const text = (id: string) => doc.getElementById(id)?.textContent?.trim() ?? "";
  const word = text("state-word");
  const tps = doc.getElementById("header-tps");
  if (shown(tps) && /^(Not serving|Stopped)$/.test(word)) found.push(`"${word}" beside a live rate "${tps.textContent}"`);
  const errors = doc.querySelectorAll("#warnings .attention-row.error").length;
  if (errors > 0 && (word === "Degraded" || word === "Serving")) found.push(`"${word}" above an error row`);
  if (word === "Serving" && doc.querySelectorAll("#warnings li.attention-item").length > 0) found.push('"Serving" above attention rows');
  const boxes = doc.querySelectorAll("#node-list li.node").length;
  if (shown(doc.getElementById("cluster")) && boxes > 1 && shown(doc.getElementById("join-lead")))
    found.push("a cluster of boxes under 'This Mac is not in a cluster'");
  if (shown(doc.getElementById("join-cancel")) && shown(doc.getElementById("join-btn"))) found.push("Join cluster… offered while a join runs");
  const enroll = doc.getElementById("porten-enroll");
  if (shown(enroll) && enroll.textContent === "Stop agent" && /^Agent (stopped|gave up)/.test(text("porten-agent")))
    found.push(`"Stop agent" beside "${text("porten-agent")}"`);
  if (shown(doc.getElementById("porten-login")) && text("porten-login-state") === "Signed in" && !shown(doc.getElementById("porten-cancel")))
    found.push("the sign-in code box after signing in");
  const thisMacRows = doc.querySelectorAll("#node-list li.node .tag").length;
  if (thisMacRows > 0 && shown(doc.getElementById("boxes")) && shown(doc.getElementById("cluster"))) found.push("this Mac shown twice (its card and its row)");
  for (const badge of Array.from(doc.querySelectorAll(".badge"))) {
    if (/\n/.test(badge.textContent ?? "")) found.push(`a badge that wraps: ${badge.textContent}`);
  }
  for (const el of Array.from(doc.querySelectorAll("#warnings, #preflight"))) {
    if ((el.textContent ?? "").includes("`")) found.push("a command printed with its backticks");
  }
  if (/\d+ MB\b/.test(text("subtitle")) || /\d{5,} MB/.test(text("pool-line"))) found.push("memory in MB where GB reads");
  return found;
}

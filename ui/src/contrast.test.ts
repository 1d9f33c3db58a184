// Every text colour of the stylesheet reaches WCAG's 4.5:1 on the backgrounds it is used on, in
// light and dark (issue #15). Read from style.css itself, so a colour edited there is checked.

// @ts-ignore -- node's fs, in the vitest runner (the page's tsconfig has no node types; the
// stylesheet's ?raw import is emptied by vitest's CSS handling).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const css: string = readFileSync(new URL("./style.css", import.meta.url), "utf8");

/** The custom properties of the first `:root { … }` after `from` in the stylesheet. */
function variables(from: number): Record<string, string> {
  const start = css.indexOf(":root {", from);
  const block = css.slice(start, css.indexOf("}", start));
  return Object.fromEntries(Array.from(block.matchAll(/--([a-z-]+):\s*(#[0-9a-fA-F]{6})/g), (m: RegExpMatchArray) => [m[1], m[2]]));
}

function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

const TEXT = ["fg", "muted", "text-green", "text-amber", "text-red"];
const BACKGROUNDS = ["bg", "card"];

describe.each([
  ["light", variables(0)],
  ["dark", variables(css.indexOf("prefers-color-scheme: dark"))],
])("%s", (_scheme, vars) => {
  it("defines every colour the test checks", () => {
    for (const name of [...TEXT, ...BACKGROUNDS, "selection"]) expect(vars[name], name).toMatch(/^#/);
  });

  it.each(TEXT.flatMap((t) => BACKGROUNDS.map((b) => [t, b])))("%s on %s is at least 4.5:1", (text, background) => {
    expect(contrast(vars[text], vars[background])).toBeGreaterThanOrEqual(4.5);
  });

  it("white on the selection (a hovered menu row) is at least 4.5:1", () => {
    expect(contrast("#ffffff", vars.selection)).toBeGreaterThanOrEqual(4.5);
  });
});

describe("the contrast formula", () => {
  it("matches WCAG's reference values", () => {
    expect(contrast("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrast("#777777", "#ffffff")).toBeCloseTo(4.48, 2);
  });
});

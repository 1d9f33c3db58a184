import { describe, expect, it } from "vitest";
import { formatAgo, formatBytes } from "./format";

describe("formatBytes", () => {
  it("matches the core's formatting", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(64 * 1024 ** 3)).toBe("64.0 GB");
    expect(formatBytes(24_684_092 * 1024)).toBe("23.5 GB");
    expect(formatBytes(1536)).toBe("1.5 KB");
  });
});

describe("formatAgo", () => {
  it("speaks in seconds, minutes and hours", () => {
    expect(formatAgo(12_400)).toBe("12 s ago");
    expect(formatAgo(180_000)).toBe("3 min ago");
    expect(formatAgo(7_200_000)).toBe("2 h ago");
    expect(formatAgo(-5)).toBe("0 s ago");
  });
});

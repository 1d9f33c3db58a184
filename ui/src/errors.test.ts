import { describe, expect, it } from "vitest";
import { errorCode, errorText } from "./errors";

describe("errorText", () => {
  it("shows a command error's detail, not its code", () => {
    const e = { code: "exo_unreachable", detail: "exo is not answering on 127.0.0.1:52415" };
    expect(errorText(e)).toBe("exo is not answering on 127.0.0.1:52415");
  });

  it("shows plain strings and Errors as they are", () => {
    expect(errorText("settings lock poisoned")).toBe("settings lock poisoned");
    expect(errorText(new Error("render failed"))).toBe("render failed");
  });

  it("never shows [object Object] or an empty line", () => {
    expect(errorText({ reason: "odd" })).toBe('{"reason":"odd"}');
    expect(errorText(undefined)).toBe("unknown error");
    expect(errorText(null)).toBe("unknown error");
  });
});

describe("errorCode", () => {
  it("is the command error's code", () => {
    expect(errorCode({ code: "busy", detail: "A benchmark is already running." })).toBe("busy");
  });

  it("is undefined for anything else", () => {
    expect(errorCode("busy")).toBeUndefined();
    expect(errorCode(new Error("busy"))).toBeUndefined();
    expect(errorCode({ code: 3, detail: "x" })).toBeUndefined();
  });
});

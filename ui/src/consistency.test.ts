// @vitest-environment jsdom
// The contradiction check itself fails on each case it names (a check that cannot fail is a defect).

import { describe, expect, it } from "vitest";
import { contradictions } from "./consistency";

function page(html: string): Document {
  return new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
}

describe("contradictions", () => {
  it("finds a stopped word beside a live rate", () => {
    expect(contradictions(page('<span id="state-word">Not serving</span><span id="header-tps">26 tok/s</span>'))).toHaveLength(1);
    expect(contradictions(page('<span id="state-word">Not serving</span><span id="header-tps" hidden>26 tok/s</span>'))).toEqual([]);
  });

  it("finds Degraded above an error, and the join lead under a cluster", () => {
    const found = contradictions(
      page(`<span id="state-word">Degraded</span>
        <ul id="warnings"><li class="attention-item"><div class="attention-row error"></div></li></ul>
        <section id="cluster"><ul id="node-list"><li class="node"></li><li class="node"></li></ul></section>
        <div id="join-lead">This Mac is not in a cluster.</div>`),
    );
    expect(found).toHaveLength(2);
  });

  it("finds Stop agent beside a stopped agent, backticks, MB and this Mac twice", () => {
    const found = contradictions(
      page(`<button id="porten-enroll">Stop agent</button><div id="porten-agent">Agent stopped</div>
        <ul id="warnings"><li>run \`rdma_ctl enable\`</li></ul><div id="pool-line">budget 491520 MB</div>
        <section id="boxes"></section><section id="cluster"><ul id="node-list"><li class="node"><span class="tag">this Mac</span></li></ul></section>`),
    );
    expect(found).toHaveLength(4);
  });
});
